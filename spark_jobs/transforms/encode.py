"""featurize's split, fit and index stages: each row's split, every feature's raw value, numeric
statistics and vocabularies fitted on train only, every feature indexed as the model reads it, and
the out-of-vocabulary counts per split. Pure DataFrame functions (the fits collect small results)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import IntegralType, NumericType

from spark_jobs.featurize_config import SPLITS, Feature, FeaturizeConfig
from spark_jobs.transforms import features as ft
from spark_jobs.transforms.parse import holds, number


def assign_split(df: DataFrame, config: FeaturizeConfig, record_columns: list[str]) -> tuple[DataFrame, dict]:
    """df + `_split` (train / valid / test); -> (df, what decided it)."""
    split = config.split
    if split.by == "given":
        return df, {"by": "given"}
    if split.by == "random":  # a hash of the row's own columns: the same row always lands in the same split
        record = [F.col(c) for c in record_columns]
        u = (F.abs(F.xxhash64(*record, F.lit(split.seed))) % 1_000_000) / 1_000_000.0
        which = F.when(u < split.test, "test").when(u < split.test + split.valid, "valid").otherwise("train")
        return df.withColumn("_split", which), {
            "by": "random",
            "seed": split.seed,
            "valid": split.valid,
            "test": split.test,
        }
    if split.valid_start:
        valid_start, test_start = split.valid_start, split.test_start
    else:
        seconds = df.select(F.unix_micros("_ts").alias("_us"))
        cuts = seconds.approxQuantile("_us", [1 - split.test - split.valid, 1 - split.test], 1e-4)
        valid_start, test_start = (datetime.fromtimestamp(c / 1e6, UTC).isoformat() for c in cuts)
    ts = F.col("_ts")
    which = (
        F.when(ts >= F.lit(test_start).cast("timestamp"), "test")
        .when(ts >= F.lit(valid_start).cast("timestamp"), "valid")
        .otherwise("train")
    )
    return df.withColumn("_split", which), {"by": "time", "valid_start": valid_start, "test_start": test_start}


def raw_value(f: Feature, df: DataFrame) -> Column:
    """The feature's raw value: a categorical key (a long when the column holds integers, whose
    vocabulary values are those numbers as text; else trimmed text), array<string> for
    multi-valued, double for numbers (bucket labels come later, once boundaries are known)."""
    col = F.expr(f.expr) if f.expr else F.col(f.source)
    if f.kind == "timestamp":
        part = {"hour": F.hour, "weekday": F.dayofweek, "month": F.month, "year": F.year}[f.part]
        return part(F.col("_ts")).cast("long")
    if f.kind == "numeric":
        return number(col, holds(df, col, NumericType))
    if f.kind == "multi_categorical":
        items = F.split(col.cast("string"), re.escape(f.sep)) if f.sep else col.cast("array<string>")
        return F.filter(F.transform(items, lambda x: F.trim(x)), lambda x: x.isNotNull() & (x != ""))
    if holds(df, col, IntegralType):
        return col.cast("long")
    text = F.trim(col.cast("string"))
    return F.when(text != "", text)


def bucket_label(value: Column, boundaries: list[float]) -> Column:
    """'b<k>': the number of boundaries <= value (0 .. len(boundaries)); null stays null (OOV)."""
    k = sum((F.when(value >= b, 1).otherwise(0) for b in boundaries), F.lit(0))
    return F.when(value.isNotNull(), F.concat(F.lit("b"), k.cast("string")))


def fit_numeric(train: DataFrame, config: FeaturizeConfig) -> dict[str, dict[str, Any]]:
    """Per numeric feature, fitted on train: mean and sd (standardize) or boundaries (bucketize)."""
    fitted: dict[str, dict[str, Any]] = {}
    numeric = [f for f in config.features if f.kind == "numeric"]
    standardize = [f for f in numeric if f.transform == "standardize"]
    if standardize:
        row = train.agg(
            *[F.mean(f"_raw_{f.name}").alias(f"{f.name}_mean") for f in standardize],
            *[F.stddev_pop(f"_raw_{f.name}").alias(f"{f.name}_sd") for f in standardize],
        ).first()
        assert row is not None  # a global aggregate has one row
        for f in standardize:
            mean, sd = row[f"{f.name}_mean"], row[f"{f.name}_sd"]
            fitted[f.name] = {"mean": float(mean or 0.0), "sd": float(sd) if sd else 1.0}
    for f in numeric:
        if f.transform == "bucketize":
            if f.boundaries:
                edges = sorted(float(b) for b in f.boundaries)
            else:
                qs = [i / f.buckets for i in range(1, f.buckets)]
                edges = sorted(set(train.approxQuantile(f"_raw_{f.name}", qs, 1e-3)))
            fitted[f.name] = {"boundaries": edges}
    return fitted


def with_raw_values(df: DataFrame, config: FeaturizeConfig) -> DataFrame:
    return df.select("*", *[raw_value(f, df).alias(f"_raw_{f.name}") for f in config.features])


def with_buckets(df: DataFrame, config: FeaturizeConfig, numeric: dict[str, dict[str, Any]]) -> DataFrame:
    for f in config.features:
        if f.kind == "numeric" and f.transform == "bucketize":
            df = df.withColumn(f"_raw_{f.name}", bucket_label(F.col(f"_raw_{f.name}"), numeric[f.name]["boundaries"]))
    return df


def _pair_with(feature: int) -> Callable[[Column], Column]:
    """x -> struct(feature, value = x), for F.transform (which passes an index to a two-argument lambda).
    The feature is its position in the config: grouping by a number is cheaper than by its name."""
    return lambda x: F.struct(F.lit(feature).alias("feature"), x.alias("value"))


VALUE_COUNTS = "feature string, value string, " + ", ".join(f"{s} long" for s in SPLITS)


def value_counts(events: DataFrame, config: FeaturizeConfig) -> DataFrame:
    """(feature, value, train, valid, test): rows of each split holding the value (a list counts each
    of its values). One exploding pass per key type: integer keys are counted as numbers (about three
    times faster than as text) and written as text. The valid / test counts serve the OOV counts."""
    types = dict(events.dtypes)
    scalars: dict[str, list[Column]] = {"bigint": [], "string": []}  # key type -> struct(feature, value)
    lists: list[Column] = []  # array<struct(feature, value)>
    for i, f in enumerate(config.features):
        raw = F.col(f"_raw_{f.name}")
        if f.kind == "multi_categorical":
            listed = F.transform(raw, _pair_with(i))
            lists.append(F.coalesce(listed, F.array().cast("array<struct<feature:int,value:string>>")))
        elif f.categorical:
            scalars[types[f"_raw_{f.name}"]].append(_pair_with(i)(raw))
    pairs = [F.array(*scalars["bigint"])] if scalars["bigint"] else []
    text = ([F.array(*scalars["string"])] if scalars["string"] else []) + lists
    pairs += [F.concat(*text)] if text else []
    parts = []
    for arrays in pairs:
        exploded = events.select("_split", F.inline(arrays)).where(F.col("value").isNotNull())
        counted = exploded.groupBy("feature", "value").agg(*[F.count_if(F.col("_split") == s).alias(s) for s in SPLITS])
        names = F.array(*[F.lit(f.name) for f in config.features])
        parts.append(
            counted.select(
                F.element_at(names, F.col("feature") + 1).alias("feature"),
                F.col("value").cast("string").alias("value"),
                *SPLITS,
            )
        )
    if not parts:
        return events.sparkSession.createDataFrame([], VALUE_COUNTS)
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def fit_vocabulary(counts: DataFrame, config: FeaturizeConfig) -> DataFrame:
    """(feature, value, index, count) from the train counts only; index 0 is OOV / padding."""
    train = counts.where(F.col("train") > 0).select("feature", "value", F.col("train").alias("count"))
    by_feature = {f.name: f.min_count for f in config.features if f.min_count is not None}
    return ft.fit_vocab(train, config.min_count, by_feature)


def index_features(
    df: DataFrame, vocab: DataFrame, config: FeaturizeConfig, numeric: dict[str, dict[str, Any]]
) -> DataFrame:
    """Every feature as the model reads it: vocab index (int; 0 = OOV), a list of indices padded to
    max_len, or a standardized float (missing -> 0, the training mean)."""
    for f in config.features:
        raw, out = f"_raw_{f.name}", f"_idx_{f.name}"
        if f.kind == "multi_categorical":
            df = ft.lookup_list(df, "_rid", vocab, f.name, raw, out, f.max_len)
        elif f.categorical:
            df = ft.lookup(df, vocab, f.name, raw, out)
        else:
            stats = numeric[f.name]
            z = (F.col(raw) - F.lit(stats["mean"])) / F.lit(stats["sd"])
            df = df.withColumn(out, F.coalesce(z, F.lit(0.0)).cast("float"))
    return df


def oov_counts(
    events: DataFrame, counts: DataFrame, vocab: DataFrame, config: FeaturizeConfig
) -> dict[str, dict[str, int]]:
    """split -> categorical feature -> rows whose value was given but is not in the vocabulary (for a
    list: rows none of whose values are). A single value: the counts of the values missing from the
    vocabulary (no pass over the rows); a list: its rows resolved once more."""
    oov = {s: {f.name: 0 for f in config.features if f.categorical} for s in SPLITS}
    known = vocab.select("feature", "value", F.lit(True).alias("_known"))
    lists = [f for f in config.features if f.kind == "multi_categorical"]
    unknown = counts.join(known, ["feature", "value"], "left").where(F.col("_known").isNull())
    unknown = unknown.where(~F.col("feature").isin(*[f.name for f in lists])) if lists else unknown
    for r in unknown.groupBy("feature").agg(*[F.sum(s).alias(s) for s in SPLITS]).collect():
        for s in SPLITS:
            oov[s][r["feature"]] = int(r[s] or 0)
    if lists:
        rows = events.select("_rid", "_split", *[f"_raw_{f.name}" for f in lists])
        for f in lists:
            rows = ft.lookup_list(rows, "_rid", vocab, f.name, f"_raw_{f.name}", f"_idx_{f.name}", f.max_len)
        found = [F.aggregate(F.col(f"_idx_{f.name}"), F.lit(0), lambda a, x: a + x) for f in lists]
        unseen = [
            F.count_if((F.size(f"_raw_{f.name}") > 0) & (n == 0)).alias(f.name)
            for f, n in zip(lists, found, strict=True)
        ]
        for r in rows.groupBy("_split").agg(*unseen).collect():
            oov[r["_split"]].update({f.name: int(r[f.name]) for f in lists})
    return oov
