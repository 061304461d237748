"""Row rules every Spark job's validation shares: the columns a reader adds (its verdict, the row as
read), the text checks (bytes that were not UTF-8, a text over MAX_FIELD_CHARS), and the fold of a
source's ordered rules into the one reason a row is rejected for. Pure Column expressions, no I/O."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, StringType

CORRUPT = "_corrupt_record"  # Spark's column for a line its CSV / JSON parser could not read
PROBLEM = "_raw_problem"  # the reader's verdict on a row: null, or a reject reason
RAW_RECORD = "_raw_record"  # the row as read (text for CSV / JSON), kept for the rejects table
MAX_FIELD_CHARS = 10_000  # longer texts (a 10 MB tag) are rejected, not carried into the lake


def first_reason(rules: list[tuple[str, Column]]) -> Column:
    """The reason of the first rule a row breaks (rules in order: (reason, broken)), null when none."""
    reason = F.lit(None).cast("string")
    for text, broken in reversed(rules):
        reason = F.when(broken, F.lit(text)).otherwise(reason)
    return reason


def blank(col: Column, text: bool = True) -> Column:
    """Null, or (a text column) nothing but white space."""
    return col.isNull() | (F.trim(col) == "") if text else col.isNull()


def any_of(conditions: list[Column]) -> Column:
    """True where any condition is (a null condition counts as false)."""
    out = F.lit(False)
    for c in conditions:
        out = out | F.coalesce(c, F.lit(False))
    return out


def not_utf8(*texts: Column) -> Column:
    """True where any of the text columns (strings or string lists) held bytes that are not UTF-8:
    JSON keeps a line's invalid bytes, CSV decodes them to U+FFFD."""
    joined = F.concat_ws("", *texts)
    return ~F.is_valid_utf8(joined) | joined.contains("\ufffd")


def too_long(column: Column, is_list: bool) -> Column:
    """True where the text (or any element of the string list) is over MAX_FIELD_CHARS."""
    if is_list:
        return F.coalesce(F.exists(column, lambda x: F.length(x) > MAX_FIELD_CHARS), F.lit(False))
    return F.coalesce(F.length(column) > MAX_FIELD_CHARS, F.lit(False))


def is_text(data_type) -> bool:
    return isinstance(data_type, StringType) or (
        isinstance(data_type, ArrayType) and isinstance(data_type.elementType, StringType)
    )
