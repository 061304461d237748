"""Pure DataFrame -> DataFrame transformations of the preprocessing job (no I/O here)."""
