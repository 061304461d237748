"""The single source of truth for every table's columns: the raw landing zone (docs/architecture.md,
"Data contracts") and the lake. Schemas are pyarrow schemas; `spark_schema` converts for Spark readers."""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")
STRINGS = pa.list_(pa.string())

RAW: dict[str, pa.Schema] = {
    "interactions": pa.schema(
        [("user_id", pa.string()), ("illust_id", pa.string()), ("event", pa.string()), ("ts", TS)]
    ),
    "users": pa.schema(
        [
            ("user_id", pa.string()),
            ("gender", pa.string()),
            ("age", pa.int32()),
            ("region", pa.string()),
            ("language", pa.string()),
            ("interest_tags", STRINGS),
            ("created_at", TS),
        ]
    ),
    "illustrations": pa.schema(
        [
            ("illust_id", pa.string()),
            ("artist_id", pa.string()),
            ("title", pa.string()),
            ("tags", STRINGS),
            ("image_uri", pa.string()),
            ("width", pa.int32()),
            ("height", pa.int32()),
            ("page_count", pa.int32()),
            ("type", pa.string()),
            ("x_restrict", pa.int32()),
            ("ai_generated", pa.bool_()),
            ("created_at", TS),
        ]
    ),
    "text_pairs": pa.schema([("anchor", pa.string()), ("positive", pa.string()), ("perspective", pa.string())]),
}
RAW_OPTIONAL = {"text_pairs"}
# Columns without which a row means nothing; a file none of whose records has one is a bad file.
RAW_REQUIRED: dict[str, list[str]] = {
    "interactions": ["user_id", "illust_id", "event", "ts"],
    "users": ["user_id"],
    "illustrations": ["illust_id"],
    "text_pairs": ["anchor", "positive", "perspective"],
}

# Written by the sample-site generator only: ground truth kept aside, never a model input.
ORACLE: dict[str, pa.Schema] = {
    "oracle": pa.schema(
        [
            ("user_id", pa.string()),
            ("illust_id", pa.string()),
            ("ts", TS),
            ("p_bookmark", pa.float64()),
            ("bookmarked", pa.bool_()),
        ]
    ),
    "oracle_items": pa.schema(
        [
            ("illust_id", pa.string()),
            ("style", pa.int32()),
            ("style_name", pa.string()),
            ("subject", pa.int32()),
            ("series", pa.int32()),
            ("character", pa.int32()),
        ]
    ),
}


def spark_schema(schema: pa.Schema):
    """pyarrow schema -> pyspark StructType (for explicit-schema CSV / JSON reads)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


# ---- The lake. Index columns are int32 (0 = OOV / padding), keys int64. ----
INT_LIST = pa.list_(pa.int32())
USER_INDEX_COLUMNS = [
    ("user_idx", pa.int64()),
    ("gender_idx", pa.int32()),
    ("age_idx", pa.int32()),
    ("region_idx", pa.int32()),
    ("language_idx", pa.int32()),
    ("interest_tags_idx", INT_LIST),
]
ITEM_INDEX_COLUMNS = [
    ("item_idx", pa.int64()),
    ("item_id_idx", pa.int64()),
    ("artist_idx", pa.int32()),
    ("type_idx", pa.int32()),
    ("x_restrict_idx", pa.int32()),
    ("ai_generated_idx", pa.int32()),
    ("pages_idx", pa.int32()),
    ("aspect_idx", pa.int32()),
    ("has_image_idx", pa.int32()),
    ("tags_idx", INT_LIST),
]

LAKE: dict[str, pa.Schema] = {
    "users": pa.schema([("user_id", pa.string()), *USER_INDEX_COLUMNS, ("interest_tags", STRINGS), ("created_at", TS)]),
    "items": pa.schema(
        [
            ("illust_id", pa.string()),
            *ITEM_INDEX_COLUMNS,
            ("title", pa.string()),
            ("tags", STRINGS),
            ("image_uri", pa.string()),
            ("created_at", TS),
        ]
    ),
    "interactions": pa.schema(
        [
            ("user_id", pa.string()),
            ("illust_id", pa.string()),
            ("label", pa.int32()),
            ("ts", TS),
            *USER_INDEX_COLUMNS,
            *ITEM_INDEX_COLUMNS,
            ("item_age_idx", pa.int32()),
            ("month", pa.string()),
        ]
    ),
    "vocab": pa.schema(
        [("feature", pa.string()), ("value", pa.string()), ("index", pa.int64()), ("count", pa.int64())]
    ),
    "pretext_image_labels": pa.schema(
        [("item_idx", pa.int64()), ("illust_id", pa.string()), ("image_uri", pa.string()), ("label_idx", INT_LIST)]
    ),
    "text_pairs": pa.schema(
        [("pair_id", pa.int64()), ("anchor", pa.string()), ("positive", pa.string()), ("perspective", pa.string())]
    ),
    "rejects": pa.schema(
        [("run_id", pa.string()), ("source", pa.string()), ("reason", pa.string()), ("record", pa.string())]
    ),
    "runs": pa.schema(
        [
            ("run_id", pa.string()),
            ("started_at", TS),
            ("finished_at", TS),
            ("config", pa.string()),
            ("counts", pa.string()),
            ("time_ranges", pa.string()),
            ("versions", pa.string()),
        ]
    ),
}
# One row per arriving day taken in by `umair ingest` (its idempotence and watermark).
LAKE["ingest_log"] = pa.schema(
    [
        ("date", pa.string()),
        ("run_id", pa.string()),
        ("finished_at", TS),
        ("counts", pa.string()),
        ("versions", pa.string()),
    ]
)
SPLITS = ("train", "valid", "test")


def lake_schema(table: str) -> pa.Schema:
    """Schema of a lake table; interactions_{train,valid,test} share one."""
    return LAKE["interactions" if table.startswith("interactions_") else table]
