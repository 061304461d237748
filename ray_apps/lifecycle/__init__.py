"""Day two: what happens to trained runs after `compare` (the promotion gate between a serving
champion and a challenger)."""
