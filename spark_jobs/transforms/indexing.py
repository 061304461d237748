"""Dense 1-based positions of rows in a total order, computed by all executors.

`Window.orderBy(...)` without `partitionBy` (row_number over the whole table) moves every row into
one task ("No Partition Defined for Window operation! Moving all data to a single partition"); a
`partitionBy(feature)` window puts each feature's values in one task, so the largest vocabulary
(user or item ids) is ranked by one core. Here the rows are range-partitioned and sorted in parallel;
each partition's row count (one number per partition) gives its offset.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

_ROW_BITS = 33  # monotonically_increasing_id: partition id << 33 | row number within the partition


def position_index(df: DataFrame, order: Sequence[str | Column], out: str, within: str | None = None) -> DataFrame:
    """df + `out` (long): the row's 1-based position by `order` (which must be a total order, so the
    result is deterministic), restarting at 1 for each value of `within` when given.

    The sorted, tagged rows are persisted (MEMORY_AND_DISK) because the offsets collected from them
    are only valid for that one partitioning.
    """
    keys = ([F.col(within)] if within else []) + [F.col(c) if isinstance(c, str) else c for c in order]
    tagged = (
        df.repartitionByRange(*keys)
        .sortWithinPartitions(*keys)
        .select("*", F.spark_partition_id().alias("_part"), F.monotonically_increasing_id().alias("_id"))
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    counts = {r["_part"]: r["count"] for r in tagged.groupBy("_part").count().collect()}
    offsets, total = [], 0
    for part in sorted(counts):
        offsets += [F.lit(part), F.lit(total)]
        total += counts[part]
    offset = F.create_map(*offsets)[F.col("_part")] if offsets else F.lit(0)
    local = F.col("_id") - F.shiftleft(F.col("_part").cast("long"), _ROW_BITS)
    indexed = tagged.withColumn("_pos", (offset + local).cast("long"))
    if within is None:
        return indexed.withColumn(out, F.col("_pos") + 1).drop("_part", "_id", "_pos")
    first = indexed.groupBy(within).agg(F.min("_pos").alias("_first"))
    return (
        indexed.join(F.broadcast(first), within)
        .withColumn(out, F.col("_pos") - F.col("_first") + 1)
        .drop("_part", "_id", "_pos", "_first")
    )
