"""Reading the raw landing zone: Parquet, CSV or JSON lines, detected per dataset or configured."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from spark_jobs.schema import RAW, RAW_OPTIONAL, spark_schema

EXTENSIONS = {".parquet": "parquet", ".csv": "csv", ".json": "json", ".jsonl": "json", ".ndjson": "json"}


def detect_format(folder: str) -> str:
    """The format of the data files under `folder` (a local path); one format per dataset."""
    found = {
        EXTENSIONS[p.suffix]
        for p in Path(folder).rglob("*")
        if p.suffix in EXTENSIONS and not p.name.startswith((".", "_"))
    }
    if len(found) != 1:
        raise ValueError(
            f"{folder}: expected data files of one format ({', '.join(sorted(set(EXTENSIONS.values())))}), found {sorted(found) or 'none'}"
        )
    return found.pop()


def read_raw(spark: SparkSession, raw: str, name: str, fmt: str = "auto") -> DataFrame | None:
    """Dataset `name` with the contract's columns and types; None for a missing optional dataset.

    CSV cannot hold lists: list columns (tags, interest_tags) are '|'-separated strings there.
    """
    path = str(Path(raw, name))
    if not Path(path).exists():
        if name in RAW_OPTIONAL:
            return None
        raise FileNotFoundError(f"raw dataset {name!r} not found at {path}")
    fmt = detect_format(path) if fmt == "auto" else fmt
    schema = RAW[name]
    types = spark_schema(schema)
    if fmt == "parquet":
        df = spark.read.parquet(path)
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
