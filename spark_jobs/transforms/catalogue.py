"""featurize's item catalogue: the kept item rows as the `items` table `umair embed` encodes (item_idx
over the whole catalogue, image paths made absolute, the text columns as one list of tags)."""

from __future__ import annotations

from pathlib import Path

from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType

from spark_jobs.featurize_config import ConfigError, ItemContent
from spark_jobs.transforms.indexing import position_index

URI_OR_ABSOLUTE = r"^([A-Za-z][A-Za-z0-9+.-]*://|/)"


def _text_list(items: DataFrame, expr: str, where: str) -> Column:
    """A text expression as array<string>: a list as it is, one value as a one-element list."""
    try:
        kind = items.select(F.expr(expr).alias("_t")).schema["_t"].dataType
    except AnalysisException as e:
        raise ConfigError(f"{where}: {expr!r} is not an expression over the items table: {e.getMessage()}") from e
    col = F.expr(expr)
    return col.cast("array<string>") if isinstance(kind, ArrayType) else F.array(col.cast("string"))


def item_catalogue(items: DataFrame, key: str, content: ItemContent, root: Path) -> DataFrame:
    """Kept item rows -> (_key, item_idx 1..N in key-text order, illust_id = the key as text,
    image_uri (relative paths joined to image_root; null when none), tags array<string>)."""
    lists = [_text_list(items, e, f"item_content.text[{i}]") for i, e in enumerate(content.text)]
    tags = F.flatten(F.array(*lists)) if lists else F.array().cast("array<string>")
    tags = F.filter(F.transform(tags, lambda x: F.trim(x)), lambda x: x.isNotNull() & (x != ""))
    uri = F.lit(None).cast("string")
    if content.image:
        _text_list(items, content.image, "item_content.image")  # checks the expression
        path = F.trim(F.expr(content.image).cast("string"))
        uri = (
            F.when(path.isNull() | (path == ""), F.lit(None).cast("string"))
            .when(path.rlike(URI_OR_ABSOLUTE), path)
            .otherwise(F.concat(F.lit(content.image_prefix(root)), path))
        )
    catalogue = items.select(
        F.col(key).alias("_key"),
        F.col(key).cast("string").alias("illust_id"),
        uri.alias("image_uri"),
        tags.alias("tags"),
    )
    return position_index(catalogue, ["illust_id"], "item_idx")


def catalogue_facts(catalogue: DataFrame) -> dict[str, int]:
    row = catalogue.agg(
        F.count("*").alias("items"),
        F.count("image_uri").alias("with_image_path"),
        F.sum(F.when(F.size("tags") > 0, 1).otherwise(0)).alias("with_text"),
    ).first()
    assert row is not None  # a global aggregate has one row
    return {k: int(v or 0) for k, v in row.asDict().items()}
