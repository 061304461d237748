"""Pretext tables: image -> its most frequent tags (multi-label targets); cleaned text pairs."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_jobs.transforms.features import fit_vocab, lookup_list
from spark_jobs.transforms.indexing import position_index

PRETEXT_FEATURE = "pretext_label"


def pretext_vocab(items: DataFrame, num_labels: int) -> DataFrame:
    """The `num_labels` most frequent item tags (by number of illustrations): vocab rows 1..C.

    Class c of the image encoder's head is vocab index c + 1.
    """
    counts = (
        items.select(F.explode("tags").alias("value"))
        .groupBy("value")
        .count()
        .withColumn("feature", F.lit(PRETEXT_FEATURE))
    )
    vocab = fit_vocab(counts, 2)
    return vocab.where(F.col("index") <= num_labels)


def pretext_image_labels(items: DataFrame, vocab: DataFrame, max_labels: int) -> DataFrame:
    """Items with an image and at least one pretext label -> item_idx, illust_id, image_uri, label_idx.

    label_idx: the item's tags that are pretext classes (vocab indices, most frequent first).
    """
    with_image = items.where(F.col("image_uri").isNotNull())
    resolved = lookup_list(with_image, "illust_id", vocab, PRETEXT_FEATURE, "tags", "_l", max_labels)
    labels = F.sort_array(F.filter("_l", lambda x: x > 0))
    return resolved.select("item_idx", "illust_id", "image_uri", labels.alias("label_idx")).where(
        F.size("label_idx") > 0
    )


def clean_text_pairs(pairs: DataFrame) -> DataFrame:
    """Kept pairs (already trimmed and deduplicated by validation) with a stable pair_id."""
    indexed = position_index(pairs, ["perspective", "anchor", "positive"], "pair_id")
    return indexed.select("pair_id", "anchor", "positive", "perspective")
