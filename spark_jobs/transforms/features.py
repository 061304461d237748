"""Feature columns, vocabularies fitted on training examples, and index resolution.

Every categorical feature is a string value; its vocabulary keeps values seen at least
`min_count` times in the training examples, indexed 1..V by (count desc, value asc); index 0 is
out-of-vocabulary / padding. List features (tags) are resolved to fixed-length index arrays.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import IntegralType

from spark_jobs.transforms.indexing import position_index

UNKNOWN = "unknown"
USER_FEATURES = ("gender", "age", "region", "language")
ITEM_FEATURES = ("artist_id", "type", "x_restrict", "ai_generated", "pages", "aspect", "has_image")


def _or_unknown(col: Column) -> Column:
    return F.coalesce(F.nullif(F.trim(col.cast("string")), F.lit("")), F.lit(UNKNOWN))


def _clean_tags(col: str) -> Column:
    tags = F.filter(
        F.transform(F.coalesce(F.col(col), F.array().cast("array<string>")), lambda t: F.lower(F.trim(t))),
        lambda t: t.isNotNull() & (t != ""),
    )
    return F.array_distinct(tags)


def user_attributes(users: DataFrame) -> DataFrame:
    """-> user_id, gender, age (bucket), region, language, interest_tags (clean), created_at."""
    age = F.col("age")
    bucket = (
        F.when(age.isNull() | (age < 5) | (age > 110), None)
        .when(age < 18, "<18")
        .when(age < 25, "18-24")
        .when(age < 35, "25-34")
        .when(age < 45, "35-44")
        .otherwise("45+")
    )
    return users.select(
        "user_id",
        _or_unknown(F.col("gender")).alias("gender"),
        _or_unknown(bucket).alias("age"),
        _or_unknown(F.col("region")).alias("region"),
        _or_unknown(F.col("language")).alias("language"),
        _clean_tags("interest_tags").alias("interest_tags"),
        F.col("interest_tags").alias("raw_interest_tags"),
        "created_at",
    )


def item_attributes(items: DataFrame) -> DataFrame:
    """-> illust_id, categorical metadata (missing -> 'unknown'), tags (clean), raw fields, created_at."""
    pages = F.col("page_count")
    w, h = F.col("width"), F.col("height")
    aspect = (
        F.when(w.isNull() | h.isNull() | (w <= 0) | (h <= 0), None)
        .when(w > h * 1.1, "landscape")
        .when(h > w * 1.1, "portrait")
        .otherwise("square")
    )
    return items.select(
        "illust_id",
        _or_unknown(F.col("artist_id")).alias("artist_id"),
        _or_unknown(F.col("type")).alias("type"),
        _or_unknown(F.col("x_restrict")).alias("x_restrict"),
        _or_unknown(F.col("ai_generated")).alias("ai_generated"),
        _or_unknown(
            F.when(pages.isNull() | (pages < 1), None).when(pages == 1, "1").when(pages <= 5, "2-5").otherwise("6+")
        ).alias("pages"),
        _or_unknown(aspect).alias("aspect"),
        F.when(F.col("image_uri").isNotNull() & (F.trim("image_uri") != ""), "1").otherwise("0").alias("has_image"),
        _clean_tags("tags").alias("tags"),
        F.col("tags").alias("raw_tags"),
        "title",
        "image_uri",
        "created_at",
    )


def item_age(ts: Column, published: Column) -> Column:
    """Context feature: age of the illustration when shown, in log2-day buckets ('d0', 'd1', 'd2-3', ...)."""
    days = (ts.cast("long") - published.cast("long")) / 86400.0
    b = F.floor(F.log2(F.greatest(days, F.lit(0.0)) + 1)).cast("int")
    return F.when(published.isNull(), UNKNOWN).otherwise(F.concat(F.lit("d"), F.least(b, F.lit(12)).cast("string")))


def weighted_value_counts(df: DataFrame, weight: str, scalars: list[str], lists: dict[str, str]) -> DataFrame:
    """(feature, value, count): each row counts `weight` times per feature value; lists count each element.

    lists maps a list column to the vocabulary it feeds (e.g. both tag columns feed 'tag').
    """
    parts = [
        df.select(F.lit(c).alias("feature"), F.col(c).cast("string").alias("value"), F.col(weight).alias("w"))
        for c in scalars
    ]
    parts += [
        df.select(F.lit(feature).alias("feature"), F.explode(col).alias("value"), F.col(weight).alias("w"))
        for col, feature in lists.items()
    ]
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out.where(F.col("value").isNotNull()).groupBy("feature", "value").agg(F.sum("w").cast("long").alias("count"))


def _frequent(counts: DataFrame, min_count: int, min_count_by_feature: dict[str, int] | None) -> DataFrame:
    """Rows of (feature, value, count) at or over their feature's threshold."""
    threshold = F.lit(min_count)
    for feature, m in (min_count_by_feature or {}).items():
        threshold = F.when(F.col("feature") == feature, F.lit(m)).otherwise(threshold)
    return counts.where(F.col("count") >= threshold)


def fit_vocab(counts: DataFrame, min_count: int, min_count_by_feature: dict[str, int] | None = None) -> DataFrame:
    """(feature, value, count) -> vocab (feature, value, index, count), index 1..V per feature."""
    kept = _frequent(counts, min_count, min_count_by_feature)
    ranked = position_index(kept, [F.col("count").desc(), F.col("value").asc()], "index", within="feature")
    return ranked.select("feature", "value", "index", "count")


def extend_vocab(
    vocab: DataFrame, counts: DataFrame, min_count: int, min_count_by_feature: dict[str, int] | None = None
) -> DataFrame:
    """The NEW vocabulary rows for `counts` (a day's (feature, value, count)): values not yet in `vocab`
    that meet the threshold, numbered after their feature's largest index (V+1, V+2, ... by count,
    then value). Existing rows are never renumbered, so a model trained before still reads the lake."""
    unseen = counts.join(vocab.select("feature", "value"), ["feature", "value"], "left_anti")
    kept = _frequent(unseen, min_count, min_count_by_feature)
    ranked = position_index(kept, [F.col("count").desc(), F.col("value").asc()], "_rank", within="feature")
    top = vocab.groupBy("feature").agg(F.max("index").alias("_top"))
    return ranked.join(F.broadcast(top), "feature", "left").select(
        "feature", "value", (F.coalesce(F.col("_top"), F.lit(0)) + F.col("_rank")).cast("long").alias("index"), "count"
    )


def lookup(df: DataFrame, vocab: DataFrame, feature: str, column: str, out: str, broadcast: bool = True) -> DataFrame:
    """Add `out` = vocab index of df[column] under `feature` (0 when not in the vocabulary).

    An integer column is matched as a number (vocabulary values of such a column are its numbers as
    text, so the round trip is exact; a join on numbers is about twice as fast as on text)."""
    numbers = isinstance(df.schema[column].dataType, IntegralType)
    key, value = (
        (df[column].cast("long"), F.col("value").cast("long"))
        if numbers
        else (df[column].cast("string"), F.col("value"))
    )
    table = vocab.where(F.col("feature") == feature).select(value.alias("_v"), F.col("index").alias(out))
    table = F.broadcast(table) if broadcast else table
    return (
        df.join(table, key == F.col("_v"), "left")
        .drop("_v")
        .withColumn(out, F.coalesce(F.col(out), F.lit(0)).cast("int"))
    )


def lookup_list(
    df: DataFrame, key: str, vocab: DataFrame, feature: str, column: str, out: str, max_len: int
) -> DataFrame:
    """Add `out`: df[column] (a list) as vocab indices, unknown elements dropped, padded with 0 to `max_len`."""
    table = F.broadcast(
        vocab.where(F.col("feature") == feature).select(F.col("value").alias("_v"), F.col("index").alias("_i"))
    )
    exploded = df.select(key, F.posexplode(column).alias("_pos", "_v")).join(table, "_v", "inner")
    resolved = (
        exploded.groupBy(key)
        .agg(F.sort_array(F.collect_list(F.struct("_pos", "_i"))).alias("_s"))
        .select(key, F.transform("_s", lambda s: s["_i"].cast("int")).alias("_idx"))
    )
    pad = F.array_repeat(F.lit(0).cast("int"), max_len)
    padded = F.slice(F.concat(F.coalesce(F.col("_idx"), F.array().cast("array<int>")), pad), 1, max_len)
    return df.join(resolved, key, "left").withColumn(out, padded).drop("_idx")
