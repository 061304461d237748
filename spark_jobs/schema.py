"""The single source of truth for every table's columns: the raw landing zone (DESIGN.md §3)
and the lake (§4). Schemas are pyarrow schemas; `spark_schema` converts for Spark readers."""
from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")
STRINGS = pa.list_(pa.string())

RAW: dict[str, pa.Schema] = {
    "interactions": pa.schema([("user_id", pa.string()), ("illust_id", pa.string()), ("event", pa.string()), ("ts", TS)]),
    "users": pa.schema([("user_id", pa.string()), ("gender", pa.string()), ("age", pa.int32()), ("region", pa.string()),
                        ("language", pa.string()), ("interest_tags", STRINGS), ("created_at", TS)]),
    "illustrations": pa.schema([("illust_id", pa.string()), ("artist_id", pa.string()), ("title", pa.string()),
                                ("tags", STRINGS), ("image_uri", pa.string()), ("width", pa.int32()), ("height", pa.int32()),
                                ("page_count", pa.int32()), ("type", pa.string()), ("x_restrict", pa.int32()),
                                ("ai_generated", pa.bool_()), ("created_at", TS)]),
    "text_pairs": pa.schema([("anchor", pa.string()), ("positive", pa.string()), ("perspective", pa.string())]),
}
RAW_OPTIONAL = {"text_pairs"}

# Written by the sample-site generator only: ground truth kept aside, never a model input.
ORACLE: dict[str, pa.Schema] = {
    "oracle": pa.schema([("user_id", pa.string()), ("illust_id", pa.string()), ("ts", TS),
                         ("p_bookmark", pa.float64()), ("bookmarked", pa.bool_())]),
    "oracle_items": pa.schema([("illust_id", pa.string()), ("style", pa.int32()), ("style_name", pa.string()),
                               ("subject", pa.int32()), ("series", pa.int32()), ("character", pa.int32())]),
}


def spark_schema(schema: pa.Schema):
    """pyarrow schema -> pyspark StructType (for explicit-schema CSV / JSON reads)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)
