"""Validation: every raw row is kept or rejected with exactly one reason code.

A row's reason is the first rule it breaks, in the order listed for its source. Optional fields
(gender, age, region, artist, size, image) are never reasons: they become 'unknown' downstream.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from spark_jobs.transforms.rules import PROBLEM, RAW_RECORD, blank, first_reason

REASON = "_reject_reason"
EVENTS = ("view", "bookmark")
PERSPECTIVES = ("multilingual", "relation", "explanation")


@dataclass
class Checked:
    """A source split into kept rows (raw columns) and rejected rows (source, reason, record)."""

    kept: DataFrame
    rejected: DataFrame


def all_rejected(checked: Iterable[Checked]) -> DataFrame:
    """Every source's rejected rows in one DataFrame (source, reason, record)."""
    return reduce(DataFrame.unionByName, [c.rejected for c in checked])


def _duplicate(df: DataFrame, key: list[str], order: list[Column]) -> Column:
    """True for every row but one per key (the first by `order`, then by the whole record)."""
    w = Window.partitionBy(*key).orderBy(*order, F.to_json(F.struct(*df.columns)))
    return F.row_number().over(w) > 1


def split_by_reason(
    df: DataFrame, source: str, reason: Column, columns: list[str], record_columns: list[str] | None = None
) -> Checked:
    """Kept rows (`columns`) and rejected rows (source, reason, `record_columns` as JSON; default `columns`)."""
    return split_flagged(df.withColumn(REASON, reason), source, columns, record_columns)


def split_flagged(
    flagged: DataFrame, source: str, columns: list[str], record_columns: list[str] | None = None
) -> Checked:
    """`split_by_reason` of rows that already carry their verdict in REASON (null: kept); a caller that
    persists `flagged` reads the source once for the kept rows, the rejects and their counts."""
    kept = flagged.where(F.col(REASON).isNull()).select(*columns)
    rejected = flagged.where(F.col(REASON).isNotNull()).select(
        F.lit(source).alias("source"),
        F.col(REASON).alias("reason"),
        F.to_json(F.struct(*[F.col(c) for c in record_columns or columns])).alias("record"),
    )
    return Checked(kept, rejected)


def check_raw_rows(df: DataFrame, source: str) -> Checked:
    """The reader's verdicts (spark_jobs.raw.PROBLEM) as reasons: not_utf8, field_too_long,
    malformed_record, bad_value. Rejects keep the row as it was read (RAW_RECORD), not as cast."""

    columns = [c for c in df.columns if c not in (PROBLEM, RAW_RECORD)]
    raw_fields = df.schema[RAW_RECORD].dataType.names  # type: ignore[attr-defined]  # a StructType: the row as read
    checked = split_by_reason(df, source, F.col(PROBLEM), columns, [f"{RAW_RECORD}.{c}" for c in raw_fields])
    # Arrow (and so the Delta writer) takes only valid UTF-8: invalid bytes in a record become U+FFFD
    return Checked(checked.kept, checked.rejected.withColumn("record", F.make_valid_utf8("record")))


def then(first: Checked, second: Checked) -> Checked:
    """`second` checked the rows `first` kept: its kept rows, and the rejects of both."""
    return Checked(second.kept, first.rejected.unionByName(second.rejected))


def _future(end: str | None) -> Column:
    """created_at at or after the log's end (e.g. year 9999): nothing in the log can involve it."""
    return (
        F.lit(False) if end is None else F.coalesce(F.col("created_at") >= F.lit(end).cast("timestamp"), F.lit(False))
    )


def check_users(users: DataFrame, end: str | None = None) -> Checked:
    """Reasons: null_id; out_of_time_range (created at or after `end`); duplicate (same user_id: the
    earliest created_at is kept)."""
    cols = users.columns
    flagged = users.withColumn("_null", blank(F.col("user_id")))
    dup = F.when(~F.col("_null"), _duplicate(flagged, ["user_id"], [F.col("created_at").asc_nulls_last()])).otherwise(
        False
    )
    rules = [("null_id", F.col("_null")), ("out_of_time_range", _future(end)), ("duplicate", dup)]
    return split_by_reason(flagged, "users", first_reason(rules), cols)


def check_illustrations(items: DataFrame, end: str | None = None) -> Checked:
    """Reasons: null_id; out_of_time_range (created at or after `end`); duplicate (same illust_id:
    the earliest created_at is kept)."""
    cols = items.columns
    flagged = items.withColumn("_null", blank(F.col("illust_id")))
    dup = F.when(~F.col("_null"), _duplicate(flagged, ["illust_id"], [F.col("created_at").asc_nulls_last()])).otherwise(
        False
    )
    rules = [("null_id", F.col("_null")), ("out_of_time_range", _future(end)), ("duplicate", dup)]
    return split_by_reason(flagged, "illustrations", first_reason(rules), cols)


def check_interactions(
    events: DataFrame, users: DataFrame, items: DataFrame, start: str, end: str, late_before: str | None = None
) -> Checked:
    """Reasons, in order: null_id, bad_timestamp (null), late_event (before `late_before`: a day's
    partition holding events of a day already taken in), out_of_time_range ([start, end) UTC),
    bad_event (not view/bookmark), unknown_user_id, unknown_illust_id, duplicate (exact copy).

    `users` / `items` are the kept rows of those sources (ids known to the job).
    """
    cols = events.columns
    known_users = users.select(F.col("user_id").alias("_uid"), F.lit(True).alias("_known_user"))
    known_items = items.select(F.col("illust_id").alias("_iid"), F.lit(True).alias("_known_item"))
    df = events.join(F.broadcast(known_users), events.user_id == F.col("_uid"), "left").join(
        F.broadcast(known_items), events.illust_id == F.col("_iid"), "left"
    )
    ts_ok = (F.col("ts") >= F.lit(start).cast("timestamp")) & (F.col("ts") < F.lit(end).cast("timestamp"))
    rules = [
        ("null_id", blank(F.col("user_id")) | blank(F.col("illust_id"))),
        ("bad_timestamp", F.col("ts").isNull()),
        ("late_event", F.lit(False) if late_before is None else F.col("ts") < F.lit(late_before).cast("timestamp")),
        ("out_of_time_range", ~ts_ok),
        ("bad_event", F.col("event").isNull() | ~F.col("event").isin(*EVENTS)),
        ("unknown_user_id", F.col("_known_user").isNull()),
        ("unknown_illust_id", F.col("_known_item").isNull()),
    ]
    first = first_reason(rules)
    df = df.withColumn("_pre", first)
    w = Window.partitionBy(*cols).orderBy(F.lit(1))
    dup = F.col("_pre").isNull() & (F.row_number().over(w) > 1)
    return split_by_reason(df, "interactions", F.coalesce(F.col("_pre"), F.when(dup, F.lit("duplicate"))), cols)


def not_in_lake(checked: Checked, source: str, key: str, lake_keys: DataFrame) -> Checked:
    """`checked` less the rows whose `key` the lake already holds (reason already_in_lake): a day's
    users and illustrations add to the lake, never rewrite what a trained model was given."""
    known = lake_keys.select(F.col(key).alias("_known"), F.lit(True).alias("_in_lake"))
    flagged = checked.kept.join(known, checked.kept[key] == F.col("_known"), "left")
    cols = checked.kept.columns
    return then(checked, split_by_reason(flagged, source, F.when(F.col("_in_lake"), F.lit("already_in_lake")), cols))


def check_text_pairs(pairs: DataFrame) -> Checked:
    """Reasons: null_field (empty anchor/positive), bad_perspective, duplicate (same trimmed pair)."""
    cols = pairs.columns
    df = pairs.withColumn("anchor", F.trim("anchor")).withColumn("positive", F.trim("positive"))
    pre = first_reason(
        [
            ("null_field", blank(F.col("anchor")) | blank(F.col("positive"))),
            ("bad_perspective", F.col("perspective").isNull() | ~F.col("perspective").isin(*PERSPECTIVES)),
        ]
    )
    df = df.withColumn("_pre", pre)
    w = Window.partitionBy("anchor", "positive", "perspective").orderBy(F.lit(1))
    dup = F.col("_pre").isNull() & (F.row_number().over(w) > 1)
    return split_by_reason(df, "text_pairs", F.coalesce(F.col("_pre"), F.when(dup, F.lit("duplicate"))), cols)
