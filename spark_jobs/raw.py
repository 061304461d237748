"""Reading the raw landing zone: Parquet, CSV or JSON lines, detected per dataset or configured.

A dataset `name` is a folder RAW/<name>/ of data files, or one file RAW/<name>.<ext>
(.parquet, .csv, .json, .jsonl, .ndjson). Parquet timestamps in nanoseconds (what pandas writes by
default, and Spark cannot read as timestamps) are read as integers and converted to microseconds.

Hostile or broken upstream files end one of two ways, before anything is written to the lake:
- a bad file (unreadable, empty or truncated Parquet; a contract column missing from a file's
  header, schema or every record; a nested or epoch-number column where the contract has a scalar
  or a timestamp) stops the job with a `RawFileError` naming the file and the column;
- a bad row gets a verdict in the `PROBLEM` column, which `validate.check_raw_rows` turns into a
  reject (reason, and the row as read under `RAW_RECORD`): not_utf8 (bytes that were not UTF-8),
  field_too_long (a text over MAX_FIELD_CHARS), malformed_record (a line the parser could not
  read: truncated JSON, a CSV row with too few or too many fields), bad_value (a value that is not
  of its column's type, NaN or infinite).
CSV and JSON are read as text and cast here, so a wrong value becomes a reject, never a silent null.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DoubleType, FloatType, StringType, StructField, StructType

from spark_jobs.landing import EXTENSIONS, data_files, kind, suffix
from spark_jobs.schema import RAW, RAW_OPTIONAL, RAW_REQUIRED, spark_schema
from spark_jobs.transforms.rules import (
    CORRUPT,
    PROBLEM,
    RAW_RECORD,
    any_of,
    first_reason,
    is_text,
    not_utf8,
    too_long,
)
from umair_models import storage

REMOTE_TEXT = (
    "CSV and JSON are read from local or cluster-mounted paths only; on object storage the landing zone "
    "must be Parquet (Spark's CSV and JSON readers need the JVM's S3 connector, which this project does not use)"
)


class RawFileError(ValueError):
    """A raw data file the job cannot use at all; raised before the lake is touched."""

    def __init__(self, dataset: str, file: str | Path, column: str | None, problem: str) -> None:
        self.dataset, self.file, self.column = dataset, str(file), column
        where = f"column {column!r}: " if column else ""
        super().__init__(f"raw dataset {dataset!r}, file {file}: {where}{problem}")


def locate(raw: str, name: str) -> str | None:
    """RAW/<name>/ or the single file RAW/<name>.<ext>; None when neither exists; an error when both do."""
    folder = storage.join(raw, name)
    files = [storage.join(raw, name + ext) for ext in EXTENSIONS if kind(storage.join(raw, name + ext)) == "file"]
    found = ([folder] if kind(folder) == "folder" else []) + files
    if len(found) > 1:
        raise ValueError(f"raw dataset {name!r} is given twice: {', '.join(found)}; keep one")
    return found[0] if found else None


def detect_format(folder: str | Path, files: list[str] | None = None) -> str:
    """The format of a dataset's data files (a folder or file, or the `files` given); one format per dataset."""
    found = {EXTENSIONS[suffix(p)] for p in (data_files(folder) if files is None else files)}
    if len(found) != 1:
        raise ValueError(
            f"{folder}: expected data files of one format ({', '.join(sorted(set(EXTENSIONS.values())))}), found {sorted(found) or 'none'}"
        )
    return found.pop()


def read_raw(spark: SparkSession, raw: str, name: str, fmt: str = "auto", day: str | None = None) -> DataFrame | None:
    """Dataset `name`: the contract's columns with its types, plus PROBLEM and RAW_RECORD (see the
    module docstring); None for a missing optional dataset. Raises RawFileError for a bad file.
    Without `day`, the history (files outside `date=` partitions); with it, that day's partition
    (None when the dataset has none that day: a day need not bring new users or illustrations).

    CSV cannot hold lists: list columns (tags, interest_tags) are '|'-separated strings there.
    """
    located = locate(raw, name)
    if located is None:
        if name in RAW_OPTIONAL:
            return None
        where = storage.join(raw, name)
        raise FileNotFoundError(
            f"raw dataset {name!r} not found: expected a folder {where}/ or one file "
            f"{where}.<{'|'.join(e.lstrip('.') for e in EXTENSIONS)}>"
        )
    files = data_files(located, day)
    if day is not None and not files:
        return None
    path = files
    fmt = detect_format(located, files) if fmt == "auto" else fmt
    schema = RAW[name]
    lists = [f.name for f in schema if pa.types.is_list(f.type)]
    if fmt != "parquet" and storage.is_remote(located):
        raise RawFileError(name, files[0], None, REMOTE_TEXT)
    if fmt == "parquet":
        check_parquet_files(name, files)
        try:
            df = read_parquet(spark, files, list(RAW[name].names))  # every file has them (checked above)
        except AnalysisException as e:
            raise ValueError(f"raw dataset {name!r} at {located}: Spark cannot read it: {e}") from e
    elif fmt == "json":
        text = [StructField(c, ArrayType(StringType()) if c in lists else StringType()) for c in schema.names]
        df = (
            spark.read.schema(StructType([*text, StructField(CORRUPT, StringType())]))
            .options(mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT)
            .json(path)
        )
        check_json_files(name, df)
    else:
        header = check_csv_headers(name, files)
        if header is None:  # only empty files
            return None if name in RAW_OPTIONAL else _empty(spark, name)
        text_schema = StructType([StructField(c, StringType()) for c in header] + [StructField(CORRUPT, StringType())])
        options = {"header": "true", "enforceSchema": "false", "mode": "PERMISSIVE"}
        df = spark.read.schema(text_schema).options(columnNameOfCorruptRecord=CORRUPT, **options).csv(path)
        for c in lists:
            df = df.withColumn(c, F.when(F.col(c).isNull(), None).otherwise(F.split(F.col(c), r"\|")))
    return with_verdicts(df, name)


def with_verdicts(df: DataFrame, name: str) -> DataFrame:
    """The contract's columns cast to their types, PROBLEM (first broken rule, or null) and RAW_RECORD."""
    types = spark_schema(RAW[name])
    read = [c for c in [*RAW[name].names, CORRUPT] if c in df.columns]
    texts = [F.col(c) for c in read if is_text(df.schema[c].dataType)]
    lists = [c for c in RAW[name].names if isinstance(df.schema[c].dataType, ArrayType)]
    cast = {f.name: F.col(f.name).try_cast(f.dataType) for f in types.fields}
    rules: list[tuple[str, Column]] = []
    if texts:
        rules.append(("not_utf8", not_utf8(*texts)))
        text_columns = [c for c in RAW[name].names if is_text(df.schema[c].dataType)]
        if text_columns:
            rules.append(("field_too_long", any_of([too_long(F.col(c), c in lists) for c in text_columns])))
    if CORRUPT in df.columns:
        rules.append(("malformed_record", F.col(CORRUPT).isNotNull()))
    bad = [F.col(c).isNotNull() & cast[c].isNull() for c in RAW[name].names]
    bad += [
        F.isnan(F.col(f.name)) | (F.abs(F.col(f.name)) == float("inf"))
        for f in df.schema.fields
        if f.name in RAW[name].names and isinstance(f.dataType, (DoubleType, FloatType))
    ]
    rules.append(("bad_value", any_of(bad)))
    return df.select(
        *[cast[c].alias(c) for c in RAW[name].names],
        first_reason(rules).alias(PROBLEM),
        F.struct(*[F.col(c) for c in read]).alias(RAW_RECORD),
    )


def _empty(spark: SparkSession, name: str) -> DataFrame:
    text = StructType([StructField(c, StringType()) for c in RAW[name].names])
    return with_verdicts(spark.createDataFrame([], text), name)


# --- bad files: checked before Spark reads the rows -------------------------------------------------
def _family(t: pa.DataType) -> str:
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_struct(t) or pa.types.is_map(t):
        return "nested"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "time"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    return "scalar"  # strings, booleans, binary


def check_parquet_files(name: str, files: list[str]) -> None:
    """Footers only: each file readable, every contract column present, of a kind that can be cast
    per row, and of the same type in every file (Spark reads all files with one schema)."""

    first: dict[str, tuple[pa.DataType, str]] = {}
    for file in files:
        found = parquet_schema(name, file)
        for field in RAW[name]:
            if field.name not in found.names:
                raise RawFileError(name, file, field.name, f"missing; the file has {found.names}")
            have_type = found.field(field.name).type
            have, want = _family(have_type), _family(field.type)
            if (have == "nested") != (want == "nested") or (want == "time" and have == "number"):
                why = " (epoch numbers are ambiguous: write timestamps)" if want == "time" and have == "number" else ""
                raise RawFileError(name, file, field.name, f"is {have_type}, the contract says {field.type}{why}")
            seen, where = first.setdefault(field.name, (have_type, file))
            if seen != have_type:
                raise RawFileError(name, file, field.name, f"is {have_type} here but {seen} in {where}")


def parquet_schema(name: str, file: str) -> pa.Schema:
    """The file's schema from its footer; RawFileError when it has none (empty, truncated, not Parquet)."""
    import pyarrow.parquet as pq

    fs, path = storage.filesystem(file)
    try:
        return pq.read_schema(path, filesystem=fs)
    except (pa.ArrowInvalid, OSError) as e:
        raise RawFileError(name, file, None, f"not a readable Parquet file (empty or truncated?): {e}") from e


def check_csv_headers(name: str, files: list[str]) -> list[str] | None:
    """The header every non-empty CSV file shares (None when all are empty); it must name every contract column."""
    header: list[str] | None = None
    for file in files:
        with open(file, newline="", encoding="utf-8", errors="replace") as f:
            first = next(csv.reader(f), None)
        if first is None:
            continue  # an empty file holds no rows
        missing = [c for c in RAW[name].names if c not in first]
        if missing:
            raise RawFileError(name, file, missing[0], f"missing from the header {first}")
        if header is not None and first != header:
            raise RawFileError(name, file, None, f"header {first} differs from the other files' {header}")
        header = first
    return header


def check_json_files(name: str, df: DataFrame) -> None:
    """A required column that no parsed record of a file has: the file lacks it (one pass over the JSON)."""
    parsed = F.col(CORRUPT).isNull()
    counts = (
        df.groupBy(F.input_file_name().alias("file"))
        .agg(
            F.count(F.when(parsed, 1)).alias("_parsed"),
            *[F.count(F.when(parsed, F.col(c))).alias(c) for c in RAW_REQUIRED[name]],
        )
        .where(F.col("_parsed") > 0)
        .collect()
    )
    for row in counts:
        for c in RAW_REQUIRED[name]:
            if row[c] == 0:
                raise RawFileError(name, row["file"], c, f"absent from all {row['_parsed']} records")


def nanosecond_columns(paths: list[str] | list[Path]) -> list[str]:
    """Columns stored as Parquet TIMESTAMP(NANOS) in the first data file of `paths` (files or folders)."""
    files = [f for p in paths for f in data_files(p)][:1]
    if not files:
        return []
    schema = parquet_schema("", files[0])
    return [f.name for f in schema if pa.types.is_timestamp(f.type) and f.type.unit == "ns"]


def read_parquet(spark: SparkSession, files: list[str] | list[Path], columns: list[str] | None = None) -> DataFrame:
    """The Parquet files (or folders of them) as one DataFrame, timestamps in microseconds. Local files:
    spark.read.parquet, with nanosecond timestamp columns (read as longs under
    spark.sql.legacy.parquet.nanosAsLong) turned into timestamps truncated to microseconds. Files on
    object storage: read by the executors through pyarrow (`remote_files`); `columns` only."""
    paths = [storage.absolute(f) for f in files]
    if any(storage.is_remote(p) for p in paths):
        from spark_jobs.remote_files import read_remote_parquet

        return read_remote_parquet(spark, [f for p in paths for f in data_files(p)], columns)
    nanos = nanosecond_columns(paths)
    if not nanos:
        return spark.read.parquet(*paths)
    spark.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
    df = spark.read.parquet(*paths)
    for c in nanos:
        df = df.withColumn(c, F.timestamp_micros(F.floor(F.col(c) / 1000)))
    return df
