"""From kept events to labelled examples: labels, sampled negatives, time split."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def label_examples(events: DataFrame) -> DataFrame:
    """One row per (user, illustration): label = 1 if bookmarked, else 0 (viewed only).

    ts = the first view (or the bookmark, when the log has no view of it). -> user_id, illust_id, label, ts
    """
    return events.groupBy("user_id", "illust_id").agg(
        F.max((F.col("event") == "bookmark").cast("int")).alias("label"),
        F.coalesce(F.min(F.when(F.col("event") == "view", F.col("ts"))), F.min("ts")).alias("ts"),
    )


def has_views(events: DataFrame) -> bool:
    return events.where(F.col("event") == "view").limit(1).count() > 0


def sample_negatives(positives: DataFrame, items: DataFrame, ratio: int, seed: int) -> DataFrame:
    """`ratio` negatives per positive, items drawn by popularity (positives per item + 1).

    Seeded per partition, so the same input gives the same negatives. A draw that hits one of
    the user's known positives is dropped (never a known positive). Negative ts = its positive's ts.
    positives: user_id, illust_id, ts; items: illust_id. -> user_id, illust_id, label (0), ts
    """
    popularity = (
        items.select("illust_id")
        .join(positives.groupBy("illust_id").count(), "illust_id", "left")
        .fillna(0, ["count"])
        .orderBy("illust_id")
        .toPandas()
    )
    ids = popularity["illust_id"].to_numpy()  # type: ignore[index]
    cdf = np.cumsum(popularity["count"].to_numpy() + 1.0)  # type: ignore[index]
    cdf /= cdf[-1]
    bc = positives.sparkSession.sparkContext.broadcast((ids, cdf))

    def draw(frames):
        import zlib

        ids_, cdf_ = bc.value
        for frame in frames:
            if frame.empty:
                continue
            key = zlib.crc32("".join(frame.user_id.iloc[:1]).encode() + str(len(frame)).encode())
            rng = np.random.default_rng([seed, key])
            picks = np.searchsorted(cdf_, rng.random((len(frame), ratio)), side="right").clip(0, len(ids_) - 1)
            yield pd.DataFrame(
                {
                    "user_id": np.repeat(frame.user_id.to_numpy(), ratio),
                    "illust_id": ids_[picks.ravel()],
                    "ts": np.repeat(frame.ts.to_numpy(), ratio),
                }
            )

    drawn = (
        positives.select("user_id", "ts")
        .repartition(8, "user_id")
        .sortWithinPartitions("user_id", "ts")
        .mapInPandas(draw, "user_id string, illust_id string, ts timestamp")
    )
    known = positives.select("user_id", "illust_id")
    return (
        drawn.join(known, ["user_id", "illust_id"], "left_anti")
        .dropDuplicates(["user_id", "illust_id"])
        .withColumn("label", F.lit(0))
    )


def split_by_time(
    examples: DataFrame, train_start: str, valid_start: str, test_start: str, test_end: str
) -> dict[str, DataFrame]:
    """train [train_start, valid_start), valid [valid_start, test_start), test [test_start, test_end)."""
    ts = F.col("ts")
    bound = lambda s: F.lit(s).cast("timestamp")  # noqa: E731
    return {
        "train": examples.where((ts >= bound(train_start)) & (ts < bound(valid_start))),
        "valid": examples.where((ts >= bound(valid_start)) & (ts < bound(test_start))),
        "test": examples.where((ts >= bound(test_start)) & (ts < bound(test_end))),
    }
