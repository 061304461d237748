"""Spark job: any interaction / CTR table (+ optional user and item tables) -> a trainable lake.

    spark-submit spark_jobs/featurize.py --config TABLES.yaml --lake LAKE
    umair featurize --config TABLES.yaml --lake LAKE

Stages: read (Parquet, CSV, JSON lines or Delta; a file or a folder) -> parse (label, timestamp,
numbers; rows that fail go to `rejects` with a reason) -> join the side tables (a key without a side
row keeps OOV side features, counted) -> split (time, random or given) -> vocabularies and numeric
statistics fitted on train only -> every feature indexed (values unseen in train -> 0, counted) ->
one Delta commit per table -> LAKE/dataset.yaml, which `umair train --dataset` and `umair compare
--dataset` read as it is.

Writes LAKE/interactions_{train,valid,test}, LAKE/vocab (feature, value, index, count),
LAKE/rejects (source, reason, record, run_id), LAKE/featurize_runs (one JSON record per run) and
LAKE/dataset.yaml. Each table is replaced atomically: a failed run leaves the previous versions.
With `item_content` it also writes LAKE/items (the catalogue `umair embed` encodes: item_idx over
every kept item row, not only those seen in train, so a cold item still gets its vectors) and an
`item_idx` column in each split; dataset.yaml then names item_features, used once embed wrote it.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import ArrayType, IntegralType, NumericType, StringType

from spark_jobs.delta import read_delta, write_delta
from spark_jobs.featurize_config import SPLITS, ConfigError, Feature, FeaturizeConfig, ItemContent, Source
from spark_jobs.progress import Stages
from spark_jobs.raw import (
    CORRUPT,
    MAX_FIELD_CHARS,
    data_files,
    detect_format,
    is_text,
    not_utf8,
    parquet_schema,
    read_parquet,
    too_long,
)
from spark_jobs.transforms import features as ft
from spark_jobs.transforms.indexing import position_index
from spark_jobs.transforms.validate import REASON, Checked, split_flagged
from umair_models import dataset_spec

log = logging.getLogger("umair.featurize")
NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"


# --- read -----------------------------------------------------------------------------------------
def read_source(spark: SparkSession, source: Source, path: str, name: str) -> DataFrame:
    """One table as Spark reads it: CSV columns as text (parsed later, so bad values become rejects,
    not silent nulls), JSON with a corrupt-record column, Parquet / Delta with their own types."""
    if not (Path(path).exists() or "://" in path):
        raise FileNotFoundError(f"{name}: {path} does not exist")
    fmt = source.format
    if fmt == "auto":
        fmt = "delta" if Path(path, "_delta_log").is_dir() else detect_format(path)
    try:
        if fmt == "delta":
            df = read_delta(spark, path)
        elif fmt == "parquet":
            for file in data_files(path) if "://" not in path else []:
                parquet_schema(name, file)  # an empty or truncated file: RawFileError naming it
            df = read_parquet(spark, path)
        elif fmt == "json":
            df = spark.read.options(mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT, **source.options).json(path)
        else:
            options = {"header": not source.columns, "inferSchema": False, **source.options}
            df = spark.read.options(
                **{k: str(v).lower() if isinstance(v, bool) else v for k, v in options.items()}
            ).csv(path)
    except AnalysisException as e:
        raise ValueError(f"{name}: Spark cannot read {path} as {fmt}: {e}") from e
    if source.columns:
        data_columns = [c for c in df.columns if c != CORRUPT]
        if len(source.columns) != len(data_columns):
            raise ValueError(f"{name}: `columns` names {len(source.columns)} columns, {path} has {len(data_columns)}")
        df = df.toDF(*source.columns, *([CORRUPT] if CORRUPT in df.columns else []))
    return df


def _require(df: DataFrame, columns: set[str], name: str) -> None:
    missing = sorted(c for c in columns if c and c not in df.columns)
    if missing:
        raise ValueError(f"{name}: no column(s) {missing}; it has {sorted(c for c in df.columns if c != CORRUPT)}")


# --- parse and reject -----------------------------------------------------------------------------
def _number(col: Column, typed: bool = False) -> Column:
    """A finite double, or null (null, text that is not a number, NaN, inf). `typed`: the column
    already holds numbers (Parquet / Delta), so no text is parsed."""
    if typed:
        number = col.cast("double")
    else:
        text = col.cast("string")
        number = F.when(text.rlike(NUMBER), text.cast("double"))
    return F.when(F.isnan(number) | (F.abs(number) == float("inf")), None).otherwise(number)


def _holds(df: DataFrame, col: Column, kind: type) -> bool:
    """Whether `col` (a column or expression over df) has a Spark type of `kind` (e.g. NumericType)."""
    return isinstance(df.select(col.alias("_t")).schema["_t"].dataType, kind)


def _blank(df: DataFrame, col: Column) -> Column:
    """Null, or (text only) nothing but white space."""
    return col.isNull() | (F.trim(col) == "") if _holds(df, col, StringType) else col.isNull()


def _timestamp(df: DataFrame, column: str, unit: str) -> Column:
    """The event time: epoch numbers in `unit`, a timestamp column as it is, or text parsed (null when not a
    time; `try_` functions, so Spark's ANSI mode does not fail the job on one bad row)."""
    col = F.col(column)
    if unit:
        scale = {"s": 1, "ms": 1e3, "us": 1e6}[unit]
        return F.timestamp_micros((_number(col, _holds(df, col, NumericType)) * (1e6 / scale)).cast("long"))
    if dict(df.dtypes)[column] in ("timestamp", "timestamp_ntz", "date"):
        return col.cast("timestamp")
    return F.try_to_timestamp(col.cast("string"))


def _text_rules(df: DataFrame) -> list[tuple[str, Column]]:
    """Bytes that were not UTF-8 anywhere in the row; a text (or list element) over MAX_FIELD_CHARS."""
    texts = [c for c in df.columns if is_text(df.schema[c].dataType)]
    if not texts:
        return []
    rules = [("not UTF-8", not_utf8(*[F.col(c) for c in texts]))]
    for c in texts:
        if c == CORRUPT:
            continue  # an unparseable line is that, whatever its length
        is_list = not isinstance(df.schema[c].dataType, StringType)
        rules.append((f"text over {MAX_FIELD_CHARS} characters ({c})", too_long(F.col(c), is_list)))
    return rules


def _first_reason(rules: list[tuple[str, Column]]) -> Column:
    reason = F.lit(None).cast("string")
    for text, broken in reversed(rules):
        reason = F.when(broken, F.lit(text)).otherwise(reason)
    return reason


def parse_interactions(df: DataFrame, config: FeaturizeConfig) -> DataFrame:
    """Every row + `_label` (0 / 1) + `_ts` (timestamp, when configured) + REASON, the first rule it
    breaks (null: kept): unparseable record, missing / non-numeric / non-binary label, missing or bad
    timestamp, a numeric feature column that holds something else than a finite number."""
    columns = [c for c in df.columns if c != CORRUPT]
    label = F.col(config.label.column)
    value = _number(label, _holds(df, label, NumericType))
    rule = config.label.parsed()
    rules: list[tuple[str, Column]] = []
    rules += _text_rules(df)
    if CORRUPT in df.columns:
        rules.append(("unparseable record", F.col(CORRUPT).isNotNull()))
    rules.append((f"missing label ({config.label.column})", _blank(df, label)))
    rules.append((f"label not a number ({config.label.column})", value.isNull()))
    if rule is None:
        rules.append((f"label not 0 or 1 ({config.label.column})", ~value.isin(0.0, 1.0)))
        binary = value.cast("int")
    else:
        op, threshold = rule
        compare = {">=": value >= threshold, ">": value > threshold, "<=": value <= threshold, "<": value < threshold}
        binary = compare.get(op, (value == threshold) if op == "==" else (value != threshold)).cast("int")
    flagged = df.withColumn("_label", binary)
    if config.timestamp:
        ts = F.col(config.timestamp.column)
        flagged = flagged.withColumn("_ts", _timestamp(df, config.timestamp.column, config.timestamp.unit))
        rules.append((f"missing timestamp ({config.timestamp.column})", _blank(df, ts)))
        rules.append((f"timestamp not parseable ({config.timestamp.column})", F.col("_ts").isNull()))
    for f in config.features:
        if f.kind == "numeric" and not f.expr and f.source in columns:
            raw = F.col(f.source)
            typed = _holds(df, raw, NumericType)
            rules.append((f"not a finite number ({f.source})", ~_blank(df, raw) & _number(raw, typed).isNull()))
    return flagged.withColumn(REASON, _first_reason(rules))


def parse_side(df: DataFrame, source: Source) -> DataFrame:
    """A side table's rows + REASON: rows without a key, and every row but the first (by its record)
    of a repeated key, rejected."""
    columns = [c for c in df.columns if c != CORRUPT]
    key = F.col(source.key)
    first = Window.partitionBy(source.key).orderBy(F.to_json(F.struct(*[F.col(c) for c in columns])))
    rules = _text_rules(df)
    if CORRUPT in df.columns:
        rules.append(("unparseable record", F.col(CORRUPT).isNotNull()))
    rules += [
        (f"missing key ({source.key})", _blank(df, key)),
        (f"duplicate key ({source.key})", F.row_number().over(first) > 1),
    ]
    return df.withColumn(REASON, _first_reason(rules))


# --- split ----------------------------------------------------------------------------------------
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


# --- features -------------------------------------------------------------------------------------
def raw_value(f: Feature, df: DataFrame) -> Column:
    """The feature's raw value: a categorical key (a long when the column holds integers, whose
    vocabulary values are those numbers as text; else trimmed text), array<string> for
    multi-valued, double for numbers (bucket labels come later, once boundaries are known)."""
    col = F.expr(f.expr) if f.expr else F.col(f.source)
    if f.kind == "timestamp":
        part = {"hour": F.hour, "weekday": F.dayofweek, "month": F.month, "year": F.year}[f.part]
        return part(F.col("_ts")).cast("long")
    if f.kind == "numeric":
        return _number(col, _holds(df, col, NumericType))
    if f.kind == "multi_categorical":
        items = F.split(col.cast("string"), re.escape(f.sep)) if f.sep else col.cast("array<string>")
        return F.filter(F.transform(items, lambda x: F.trim(x)), lambda x: x.isNotNull() & (x != ""))
    if _holds(df, col, IntegralType):
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


# --- item catalogue (what `umair embed` encodes) ---------------------------------------------------
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


def _catalogue_facts(catalogue: DataFrame) -> dict[str, int]:
    row = catalogue.agg(
        F.count("*").alias("items"),
        F.count("image_uri").alias("with_image_path"),
        F.sum(F.when(F.size("tags") > 0, 1).otherwise(0)).alias("with_text"),
    ).first()
    return {k: int(v or 0) for k, v in row.asDict().items()}


# --- the job --------------------------------------------------------------------------------------
def dataset_spec_of(
    config: FeaturizeConfig, vocab_sizes: dict[str, int], num_items: int = 0
) -> dataset_spec.DatasetSpec:
    """What `umair train --dataset` reads: table names relative to the lake, vocab sizes by reference,
    and the item catalogue's vectors when `num_items` > 0 (widths from the item_features table once
    `umair embed` has written it)."""
    features = []
    for f in config.features:
        if f.kind == "multi_categorical":
            features.append(
                dataset_spec.sized(f.name, "multi_categorical", f.name, vocab_sizes, f.group, max_len=f.max_len)
            )
        elif f.categorical:
            features.append(dataset_spec.sized(f.name, "categorical", f.name, vocab_sizes, f.group))
        else:
            features.append(dataset_spec.FeatureEntry(name=f.name, kind="numeric", group=f.group))
    return dataset_spec.DatasetSpec(
        tables={s: f"interactions_{s}" for s in SPLITS},
        label="label",
        user_column="user_key" if config.user_column else None,
        vocab_table="vocab",
        features=features,
        item_features=dataset_spec.ItemFeaturesEntry(table="item_features", num_items=num_items) if num_items else None,
    )


def featurize(spark: SparkSession, config: FeaturizeConfig, lake: str) -> dict[str, Any]:
    """Run the whole job; returns the run record (also appended to LAKE/featurize_runs)."""
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]
    stages = Stages(log)
    root = Path(config.root)

    # read
    paths = config.interactions.paths(root)
    parts = []
    for split, path in paths.items():
        df = read_source(spark, config.interactions, path, f"interactions ({path})")
        parts.append(df if split == "all" else df.withColumn("_split", F.lit(split)))
    interactions = parts[0]
    for p in parts[1:]:
        interactions = interactions.unionByName(p, allowMissingColumns=True)
    needed = {config.label.column, config.user_column} | ({config.timestamp.column} if config.timestamp else set())
    sides: dict[str, tuple[Source, DataFrame]] = {}
    for name in ("users", "items"):
        source = getattr(config, name)
        if source is not None:
            sides[name] = (source, read_source(spark, source, source.paths(root)["all"], name))
            _require(sides[name][1], {source.key}, name)
            needed.add(source.key)
    _require(interactions, needed, "interactions")
    rows_in = {"interactions": interactions.count(), **{n: df.count() for n, (_, df) in sides.items()}}
    stages.done("read", sum(rows_in.values()))

    # parse and join: every row carries the first rule it breaks (null: kept); each source is read once
    # into a cache that the counts, the rejects, the split, the vocabularies and the index all read
    cached: list[DataFrame] = []
    checked: dict[str, Checked] = {}
    counts: dict[str, dict[str, Any]] = {}
    for name, (source, df) in sides.items():
        flagged = parse_side(df, source).persist(StorageLevel.MEMORY_AND_DISK)
        counts[name] = _tally(flagged, name, rows_in[name])
        checked[name] = split_flagged(flagged, name, [c for c in df.columns if c != CORRUPT], df.columns)
        cached.append(flagged)
    flagged = parse_interactions(interactions, config)
    record_columns = [c for c in interactions.columns if c not in (CORRUPT, "_split")]
    for name, (source, _) in sides.items():
        side = checked[name].kept
        extra = [c for c in side.columns if c not in flagged.columns]
        flagged = flagged.join(
            side.select(source.key, *extra).withColumn(f"_has_{name}", F.lit(True)), source.key, "left"
        )
    catalogue = None
    if config.item_content and config.items:
        key = config.items.key
        catalogue = item_catalogue(checked["items"].kept, key, config.item_content, root)
        index = catalogue.select(F.col("_key").alias(key), F.col("item_idx").alias("_item_idx"))
        flagged = flagged.join(F.broadcast(index), key, "left")
    if any(f.kind == "multi_categorical" for f in config.features):
        flagged = flagged.withColumn("_rid", F.monotonically_increasing_id())  # cached: the same id in every pass
    flagged = flagged.persist(StorageLevel.MEMORY_AND_DISK)
    cached.append(flagged)
    missing = {name: F.count_if(F.col(f"_has_{name}").isNull()) for name in sides}
    counts = {"interactions": _tally(flagged, "interactions", rows_in["interactions"], missing), **counts}
    missing_side = {name: counts["interactions"].pop(name) for name in sides}
    kept_columns = [c for c in flagged.columns if c not in (REASON, CORRUPT)]
    checked = {"interactions": split_flagged(flagged, "interactions", kept_columns, interactions.columns), **checked}
    stages.done("parse", sum(c["kept"] for c in counts.values()))

    events, split_rule = assign_split(checked["interactions"].kept, config, record_columns)
    events = with_raw_values(events, config)
    split_facts = {
        r["_split"]: (int(r["rows"]), float(r["positive_rate"]))
        for r in events.groupBy("_split")
        .agg(F.count("*").alias("rows"), F.avg("_label").alias("positive_rate"))
        .collect()
    }
    stages.done("split", sum(n for n, _ in split_facts.values()))

    # fit on train, index every split
    numeric = fit_numeric(events.where(F.col("_split") == "train"), config)
    events = with_buckets(events, config, numeric)
    value_table = value_counts(events, config).persist(StorageLevel.MEMORY_AND_DISK)
    cached.append(value_table)
    versions: dict[str, int] = {}
    table_rows: dict[str, int] = {}

    def save(name: str, df: DataFrame, mode: str = "overwrite") -> DataFrame:
        path = str(Path(lake, name))
        schema = to_arrow_schema(df.schema, timezone="UTC")  # also creates a table for an empty result
        versions[name] = write_delta(df, path, mode, schema=schema, description=f"umair featurize run {run_id}")
        written = read_delta(spark, path)
        table_rows[name] = written.count()
        return written

    vocab = save("vocab", fit_vocabulary(value_table, config)).persist(StorageLevel.MEMORY_AND_DISK)
    cached.append(vocab)
    vocab_sizes = {
        r["feature"]: int(r["size"]) for r in vocab.groupBy("feature").agg(F.max("index").alias("size")).collect()
    }
    oov = oov_counts(events, value_table, vocab, config)
    stages.done("vocab", table_rows["vocab"])

    indexed = index_features(events, vocab, config, numeric)
    outputs = [F.col(f"_idx_{f.name}").alias(f.name) for f in config.features] + [F.col("_label").alias("label")]
    if config.user_column:
        outputs.append(F.col(config.user_column).cast("string").alias("user_key"))
    if config.timestamp:
        outputs.append(F.col("_ts").alias("ts"))
    if catalogue is not None:
        outputs.append(F.coalesce(F.col("_item_idx"), F.lit(0)).cast("long").alias("item_idx"))
    for split in SPLITS:
        save(f"interactions_{split}", indexed.where(F.col("_split") == split).select(*outputs))
    stages.done("index", sum(table_rows[f"interactions_{s}"] for s in SPLITS))
    if sum(table_rows[f"interactions_{s}"] for s in SPLITS) != counts["interactions"]["kept"]:
        raise RuntimeError("split rows do not add up to the kept interactions")

    rejected = None
    for c in checked.values():
        rejected = c.rejected if rejected is None else rejected.unionByName(c.rejected)
    save("rejects", rejected.select(F.lit(run_id).alias("run_id"), "source", "reason", "record"))
    catalogue_facts: dict[str, int] = {}
    if catalogue is not None:
        save("items", catalogue.select("item_idx", "illust_id", "image_uri", "tags"))
        catalogue_facts = _catalogue_facts(catalogue)
        stages.done("catalogue", catalogue_facts["items"])
    spec = dataset_spec_of(config, vocab_sizes, catalogue_facts.get("items", 0))
    dataset_spec.write(
        spec, lake, f"written by umair featurize run {run_id}; umair train --dataset {Path(lake, 'dataset.yaml')}"
    )
    record = {
        "run_id": run_id,
        "lake": str(Path(lake).resolve()),
        "counts": counts,
        "missing_side_rows": missing_side,
        "split": split_rule,
        "splits": {
            s: {"rows": table_rows[f"interactions_{s}"], "positive_rate": split_facts.get(s, (0, None))[1]}
            for s in SPLITS
        },
        "oov_rows": oov,
        "vocab_sizes": vocab_sizes,
        "numeric": numeric,
        "catalogue": catalogue_facts,
        "tables": table_rows,
        "versions": versions,
        "stages": {"seconds": stages.seconds, "rows": stages.rows},
        "config": config.to_dict(),
    }
    run_row = spark.createDataFrame(
        [(run_id, datetime.now(UTC), json.dumps(record, default=str))],
        "run_id string, finished_at timestamp, record string",
    )
    save("featurize_runs", run_row, mode="append")
    record["versions"] = versions
    for df in cached:
        df.unpersist()
    return record


def _tally(flagged: DataFrame, name: str, rows_in: int, kept_sums: dict[str, Column] | None = None) -> dict[str, Any]:
    """{in, kept, rejected, reasons} of a flagged source in one aggregation (+ `kept_sums`, each an
    aggregate over the kept rows, by its key); raises when kept + rejected != rows in (a bug)."""
    sums = kept_sums or {}
    by_reason = flagged.groupBy(REASON).agg(F.count("*").alias("_n"), *[c.alias(k) for k, c in sums.items()])
    rows = {r[REASON]: r for r in by_reason.collect()}
    kept_row = rows.pop(None, None)
    kept = int(kept_row["_n"]) if kept_row else 0
    reasons = {reason: int(r["_n"]) for reason, r in rows.items()}
    rejected = sum(reasons.values())
    if rows_in != kept + rejected:  # never expected: a bug, not bad data
        raise RuntimeError(f"{name}: counts do not balance: {rows_in} in != {kept} + {rejected}")
    facts = {k: int(kept_row[k] or 0) if kept_row else 0 for k in sums}
    return {"in": rows_in, "kept": kept, "rejected": rejected, "reasons": dict(sorted(reasons.items())), **facts}


def print_record(r: dict[str, Any]) -> None:
    print(f"featurize run {r['run_id']} -> {r['lake']}")
    print(f"  {'source':<14}{'rows in':>12}{'kept':>12}{'rejected':>10}  reasons")
    for name, c in r["counts"].items():
        reasons = ", ".join(f"{k}={v}" for k, v in c["reasons"].items()) or "-"
        print(f"  {name:<14}{c['in']:>12,}{c['kept']:>12,}{c['rejected']:>10,}  {reasons}")
    for name, n in r["missing_side_rows"].items():
        print(f"  interactions without a row in {name}: {n:,} (their {name} features are OOV)")
    print(f"  split: {r['split']}")
    for s, st in r["splits"].items():
        unseen = ", ".join(f"{k} {v:,}" for k, v in r["oov_rows"][s].items() if v) or "none"
        print(
            f"  interactions_{s:<6}{st['rows']:>10,} rows, positive rate {st['positive_rate'] or 0:.3f}; OOV rows: {unseen}"
        )
    print(
        f"  vocabularies (values, index 0 = OOV): {', '.join(f'{k} {v:,}' for k, v in sorted(r['vocab_sizes'].items()))}"
    )
    if r.get("catalogue"):
        c = r["catalogue"]
        print(
            f"  items: {c['items']:,} catalogue rows ({c['with_image_path']:,} with an image path, {c['with_text']:,} with text)"
            f" -> vectors: umair embed --lake {r['lake']} --models MODELS"
        )
    print(f"  dataset: {r['lake']}/dataset.yaml  (umair train --lake {r['lake']} --dataset {r['lake']}/dataset.yaml)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Any interaction / CTR tables -> a trainable Delta lake + dataset.yaml (Spark)."
    )
    p.add_argument("--config", required=True, help="TABLES.yaml: tables, label, features, split")
    p.add_argument("--lake", required=True, help="output folder; each table is a Delta table under it")
    p.add_argument(
        "--data", default=None, help="folder the YAML's relative paths are resolved against (default: the YAML's)"
    )
    p.add_argument("--master", default=None, help="Spark master (default: spark-submit's, else local[*])")
    return p


def main(argv: list[str] | None = None) -> int:
    from spark_jobs.session import get_spark

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        config = FeaturizeConfig.from_yaml(args.config, args.data)
    except ConfigError as e:
        print(f"featurize: {e}", flush=True)
        return 2
    spark = get_spark("umair-featurize", args.master)
    print_record(featurize(spark, config, args.lake))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
