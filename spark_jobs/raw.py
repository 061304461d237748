"""Reading the raw landing zone: Parquet, CSV or JSON lines, detected per dataset or configured.

A dataset `name` is a folder RAW/<name>/ of data files, or one file RAW/<name>.<ext>
(.parquet, .csv, .json, .jsonl, .ndjson). Parquet timestamps in nanoseconds (what pandas writes by
default, and Spark cannot read as timestamps) are read as integers and converted to microseconds.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from spark_jobs.schema import RAW, RAW_OPTIONAL, spark_schema

EXTENSIONS = {".parquet": "parquet", ".csv": "csv", ".json": "json", ".jsonl": "json", ".ndjson": "json"}


def data_files(path: str | Path) -> list[Path]:
    """The data files of a dataset: `path` itself when it is a file, else the files under the folder."""
    path = Path(path)
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.suffix in EXTENSIONS and not p.name.startswith((".", "_")))


def locate(raw: str, name: str) -> Path | None:
    """RAW/<name>/ or the single file RAW/<name>.<ext>; None when neither exists; an error when both do."""
    folder = Path(raw, name)
    files = [Path(raw, name + ext) for ext in EXTENSIONS if Path(raw, name + ext).is_file()]
    found = ([folder] if folder.is_dir() else []) + files
    if len(found) > 1:
        raise ValueError(f"raw dataset {name!r} is given twice: {', '.join(map(str, found))}; keep one")
    return found[0] if found else None


def detect_format(folder: str | Path) -> str:
    """The format of a dataset's data files (a local folder or file); one format per dataset."""
    found = {EXTENSIONS[p.suffix] for p in data_files(folder)}
    if len(found) != 1:
        raise ValueError(
            f"{folder}: expected data files of one format ({', '.join(sorted(set(EXTENSIONS.values())))}), found {sorted(found) or 'none'}"
        )
    return found.pop()


def read_raw(spark: SparkSession, raw: str, name: str, fmt: str = "auto") -> DataFrame | None:
    """Dataset `name` with the contract's columns and types; None for a missing optional dataset.

    CSV cannot hold lists: list columns (tags, interest_tags) are '|'-separated strings there.
    """
    located = locate(raw, name)
    if located is None:
        if name in RAW_OPTIONAL:
            return None
        raise FileNotFoundError(
            f"raw dataset {name!r} not found: expected a folder {Path(raw, name)}/ or one file "
            f"{Path(raw, name)}.<{'|'.join(e.lstrip('.') for e in EXTENSIONS)}>"
        )
    path = str(located)
    fmt = detect_format(path) if fmt == "auto" else fmt
    schema = RAW[name]
    types = spark_schema(schema)
    if fmt == "parquet":
        try:
            df = read_parquet(spark, path)
        except AnalysisException as e:
            raise ValueError(f"raw dataset {name!r} at {path}: Spark cannot read it: {e}") from e
    elif fmt == "json":
        df = spark.read.schema(spark_schema(schema)).json(path)
    else:
        lists = [f.name for f in schema if pa.types.is_list(f.type)]
        text = StructType(
            [StructField(f.name, StringType() if f.name in lists else f.dataType, True) for f in types.fields]
        )
        df = spark.read.schema(text).option("header", True).csv(path)
        for c in lists:
            df = df.withColumn(c, F.when(F.col(c).isNull(), None).otherwise(F.split(F.col(c), r"\|")))
    missing = [c for c in schema.names if c not in df.columns]
    if missing:
        raise ValueError(f"raw dataset {name!r} ({fmt}) lacks columns {missing}")
    return df.select(*[F.col(f.name).cast(f.dataType) for f in types.fields])


def nanosecond_columns(path: str | Path) -> list[str]:
    """Columns stored as Parquet TIMESTAMP(NANOS) in the dataset's first data file."""
    import pyarrow.parquet as pq

    files = data_files(path)
    if not files:
        return []
    schema = pq.read_schema(files[0])
    return [f.name for f in schema if pa.types.is_timestamp(f.type) and f.type.unit == "ns"]


def read_parquet(spark: SparkSession, path: str) -> DataFrame:
    """spark.read.parquet, with nanosecond timestamp columns (read as longs under
    spark.sql.legacy.parquet.nanosAsLong) turned into timestamps truncated to microseconds."""
    nanos = nanosecond_columns(path)
    if not nanos:
        return spark.read.parquet(path)
    spark.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
    df = spark.read.parquet(path)
    for c in nanos:
        df = df.withColumn(c, F.timestamp_micros(F.floor(F.col(c) / 1000)))
    return df
