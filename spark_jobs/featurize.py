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
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema

from spark_jobs.delta import read_delta, write_delta
from spark_jobs.featurize_config import SPLITS, ConfigError, FeaturizeConfig, Source
from spark_jobs.landing import data_files
from spark_jobs.progress import Stages
from spark_jobs.raw import REMOTE_TEXT, RawFileError, detect_format, parquet_schema, read_parquet
from spark_jobs.transforms.catalogue import catalogue_facts, item_catalogue
from spark_jobs.transforms.encode import (
    assign_split,
    fit_numeric,
    fit_vocabulary,
    index_features,
    oov_counts,
    value_counts,
    with_buckets,
    with_raw_values,
)
from spark_jobs.transforms.parse import parse_interactions, parse_side
from spark_jobs.transforms.rules import CORRUPT
from spark_jobs.transforms.validate import REASON, Checked, all_rejected, split_flagged
from umair_models import dataset_spec, storage

log = logging.getLogger("umair.featurize")


# --- read -----------------------------------------------------------------------------------------
def read_source(spark: SparkSession, source: Source, path: str, name: str) -> DataFrame:
    """One table as Spark reads it: CSV columns as text (parsed later, so bad values become rejects,
    not silent nulls), JSON with a corrupt-record column, Parquet / Delta with their own types."""
    if not storage.exists(path):
        raise FileNotFoundError(f"{name}: {path} does not exist")
    fmt = source.format
    if fmt == "auto":
        fmt = "delta" if storage.is_delta_table(path) else detect_format(path)
    if fmt in ("csv", "json") and storage.is_remote(path):
        raise RawFileError(name, path, None, REMOTE_TEXT)
    try:
        if fmt == "delta":
            df = read_delta(spark, path)
        elif fmt == "parquet":
            for file in data_files(path):
                parquet_schema(name, file)  # an empty or truncated file: RawFileError naming it
            df = read_parquet(spark, [path])
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
        path = storage.join(lake, name)
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

    rejected = all_rejected(checked.values())
    save("rejects", rejected.select(F.lit(run_id).alias("run_id"), "source", "reason", "record"))
    catalogue_counts: dict[str, int] = {}
    if catalogue is not None:
        save("items", catalogue.select("item_idx", "illust_id", "image_uri", "tags"))
        catalogue_counts = catalogue_facts(catalogue)
        stages.done("catalogue", catalogue_counts["items"])
    spec = dataset_spec_of(config, vocab_sizes, catalogue_counts.get("items", 0))
    dataset_spec.write(
        spec,
        lake,
        f"written by umair featurize run {run_id}; umair train --dataset {storage.join(lake, 'dataset.yaml')}",
    )
    record = {
        "run_id": run_id,
        "lake": storage.absolute(lake),
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
        "catalogue": catalogue_counts,
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
