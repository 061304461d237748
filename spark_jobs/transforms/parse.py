"""featurize's parse stage: a user's rows as numbers, labels and times, each row flagged with the first
rule it breaks (REASON; null: kept). Pure DataFrame -> DataFrame / Column functions."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import NumericType, StringType

from spark_jobs.featurize_config import FeaturizeConfig, Source
from spark_jobs.transforms.rules import CORRUPT, MAX_FIELD_CHARS, blank, first_reason, is_text, not_utf8, too_long
from spark_jobs.transforms.validate import REASON

NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"


def number(col: Column, typed: bool = False) -> Column:
    """A finite double, or null (null, text that is not a number, NaN, inf). `typed`: the column
    already holds numbers (Parquet / Delta), so no text is parsed."""
    if typed:
        number = col.cast("double")
    else:
        text = col.cast("string")
        number = F.when(text.rlike(NUMBER), text.cast("double"))
    return F.when(F.isnan(number) | (F.abs(number) == float("inf")), None).otherwise(number)


def holds(df: DataFrame, col: Column, kind: type) -> bool:
    """Whether `col` (a column or expression over df) has a Spark type of `kind` (e.g. NumericType)."""
    return isinstance(df.select(col.alias("_t")).schema["_t"].dataType, kind)


def blank_value(df: DataFrame, col: Column) -> Column:
    """Null, or (text only) nothing but white space."""
    return blank(col, text=holds(df, col, StringType))


def event_time(df: DataFrame, column: str, unit: str) -> Column:
    """The event time: epoch numbers in `unit`, a timestamp column as it is, or text parsed (null when not a
    time; `try_` functions, so Spark's ANSI mode does not fail the job on one bad row)."""
    col = F.col(column)
    if unit:
        scale = {"s": 1, "ms": 1e3, "us": 1e6}[unit]
        return F.timestamp_micros((number(col, holds(df, col, NumericType)) * (1e6 / scale)).cast("long"))
    if dict(df.dtypes)[column] in ("timestamp", "timestamp_ntz", "date"):
        return col.cast("timestamp")
    return F.try_to_timestamp(col.cast("string"))


def text_rules(df: DataFrame) -> list[tuple[str, Column]]:
    """Bytes that were not UTF-8 anywhere in the row; a text (or list element) over MAX_FIELD_CHARS."""
    texts = [c for c in df.columns if is_text(df.schema[c].dataType)]
    if not texts:
        return []
    rules = [("not UTF-8", not_utf8(*[F.col(c) for c in texts]))]
    for c in texts:
        if c == CORRUPT:
            continue  # an unparseable line is that, whatever its length
        is_list = not isinstance(df.schema[c].dataType, StringType)
        rules.append((f"text over {MAX_FIELD_CHARS} characters ({c})", too_long(F.col(c), is_list)))
    return rules


def parse_interactions(df: DataFrame, config: FeaturizeConfig) -> DataFrame:
    """Every row + `_label` (0 / 1) + `_ts` (timestamp, when configured) + REASON, the first rule it
    breaks (null: kept): unparseable record, missing / non-numeric / non-binary label, missing or bad
    timestamp, a numeric feature column that holds something else than a finite number."""
    columns = [c for c in df.columns if c != CORRUPT]
    label = F.col(config.label.column)
    value = number(label, holds(df, label, NumericType))
    rule = config.label.parsed()
    rules: list[tuple[str, Column]] = []
    rules += text_rules(df)
    if CORRUPT in df.columns:
        rules.append(("unparseable record", F.col(CORRUPT).isNotNull()))
    rules.append((f"missing label ({config.label.column})", blank_value(df, label)))
    rules.append((f"label not a number ({config.label.column})", value.isNull()))
    if rule is None:
        rules.append((f"label not 0 or 1 ({config.label.column})", ~value.isin(0.0, 1.0)))
        binary = value.cast("int")
    else:
        op, threshold = rule
        compare = {">=": value >= threshold, ">": value > threshold, "<=": value <= threshold, "<": value < threshold}
        binary = compare.get(op, (value == threshold) if op == "==" else (value != threshold)).cast("int")
    flagged = df.withColumn("_label", binary)
    if config.timestamp:
        ts = F.col(config.timestamp.column)
        flagged = flagged.withColumn("_ts", event_time(df, config.timestamp.column, config.timestamp.unit))
        rules.append((f"missing timestamp ({config.timestamp.column})", blank_value(df, ts)))
        rules.append((f"timestamp not parseable ({config.timestamp.column})", F.col("_ts").isNull()))
    for f in config.features:
        if f.kind == "numeric" and not f.expr and f.source in columns:
            raw = F.col(f.source)
            typed = holds(df, raw, NumericType)
            rules.append((f"not a finite number ({f.source})", ~blank_value(df, raw) & number(raw, typed).isNull()))
    return flagged.withColumn(REASON, first_reason(rules))


def parse_side(df: DataFrame, source: Source) -> DataFrame:
    """A side table's rows + REASON: rows without a key, and every row but the first (by its record)
    of a repeated key, rejected."""
    columns = [c for c in df.columns if c != CORRUPT]
    key = F.col(source.key)
    first = Window.partitionBy(source.key).orderBy(F.to_json(F.struct(*[F.col(c) for c in columns])))
    rules = text_rules(df)
    if CORRUPT in df.columns:
        rules.append(("unparseable record", F.col(CORRUPT).isNotNull()))
    rules += [
        (f"missing key ({source.key})", blank_value(df, key)),
        (f"duplicate key ({source.key})", F.row_number().over(first) > 1),
    ]
    return df.withColumn(REASON, first_reason(rules))
