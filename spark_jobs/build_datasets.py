"""Spark job: raw landing zone -> the Delta lake (docs/architecture.md, "The lake").

    spark-submit spark_jobs/build_datasets.py --raw RAW --lake LAKE [--config FILE]
    umair prep --raw RAW --lake LAKE [--config FILE]

Stages: read -> validate (rejects with reasons; counts balance) -> label (+ sampled negatives
when the log has no views) -> time split -> vocabularies fitted on train -> users / items /
interactions_{train,valid,test} resolved to indices -> pretext tables -> one Delta commit per
table -> a run record. Each table is replaced atomically: a failure leaves its previous version.
"""

from __future__ import annotations

import argparse
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_jobs import schema
from spark_jobs.config import PrepConfig
from spark_jobs.delta import read_delta, write_delta
from spark_jobs.progress import Stages
from spark_jobs.raw import read_raw
from spark_jobs.session import lake_job_parser, start_lake_job
from spark_jobs.transforms import examples as ex
from spark_jobs.transforms import features as ft
from spark_jobs.transforms import pretext, validate
from spark_jobs.transforms.indexing import position_index
from umair_models import dataset_spec, storage

log = logging.getLogger("umair.prep")


def reject_counts(checked: validate.Checked) -> dict[str, int]:
    return {r["reason"]: r["count"] for r in checked.rejected.groupBy("reason").count().collect()}


def balance(name: str, rows_in: int, kept: int, reasons: dict[str, int]) -> dict:
    rejected = sum(reasons.values())
    if rows_in != kept + rejected:  # never expected: a bug, not bad data
        raise RuntimeError(f"{name}: counts do not balance: {rows_in} in != {kept} kept + {rejected} rejected")
    return {"in": rows_in, "kept": kept, "rejected": rejected, "reasons": dict(sorted(reasons.items()))}


def index_users(attrs: DataFrame, vocab: DataFrame, config: PrepConfig) -> DataFrame:
    df = ft.lookup(attrs, vocab, "user_id", "user_id", "user_idx", broadcast=False)
    for name in ft.USER_FEATURES:
        df = ft.lookup(df, vocab, name, name, f"{name}_idx")
    df = ft.lookup_list(df, "user_id", vocab, "tag", "interest_tags", "interest_tags_idx", config.max_interest_tags)
    return df.withColumn("user_idx", F.col("user_idx").cast("long")).withColumn(
        "interest_tags", F.col("raw_interest_tags")
    )


def index_items(attrs: DataFrame, vocab: DataFrame, config: PrepConfig) -> DataFrame:
    catalogue = position_index(attrs, ["created_at", "illust_id"], "item_idx")
    df = ft.lookup(catalogue, vocab, "illust_id", "illust_id", "item_id_idx", broadcast=False)
    for name in ft.ITEM_FEATURES:
        df = ft.lookup(df, vocab, name, name, f"{name.replace('_id', '')}_idx")
    df = ft.lookup_list(df, "illust_id", vocab, "tag", "tags", "tags_idx", config.max_item_tags)
    return df.withColumn("item_id_idx", F.col("item_id_idx").cast("long"))


def interaction_rows(split: DataFrame, users: DataFrame, items: DataFrame, vocab: DataFrame) -> DataFrame:
    user_cols = [c for c, _ in schema.USER_INDEX_COLUMNS]
    item_cols = [c for c, _ in schema.ITEM_INDEX_COLUMNS]
    df = (
        split.join(users.select("user_id", *user_cols), "user_id")
        .join(items.select("illust_id", "created_at", *item_cols), "illust_id")
        .withColumn("item_age", ft.item_age(F.col("ts"), F.col("created_at")))
    )
    df = ft.lookup(df, vocab, "item_age", "item_age", "item_age_idx")
    return df.withColumn("month", F.date_format("ts", "yyyy-MM")).withColumn("label", F.col("label").cast("int"))


def write_spec(vocab: DataFrame, lake: str, num_items: int, config: PrepConfig, note: str) -> str:
    """LAKE/dataset.yaml for the lake's current vocabulary and catalogue (what train / compare read)."""
    sizes = {r["feature"]: int(r["size"]) for r in vocab.groupBy("feature").agg(F.max("index").alias("size")).collect()}
    max_lens = {"tags_idx": config.max_item_tags, "interest_tags_idx": config.max_interest_tags}
    return dataset_spec.write(dataset_spec.illustration_dataset(sizes, max_lens, num_items), lake, note)


def build(spark: SparkSession, raw: str, lake: str, config: PrepConfig = PrepConfig()) -> dict:
    """Run the whole job; returns the run record (also appended to LAKE/runs)."""
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]
    started = datetime.now(UTC)
    stages = Stages(log)
    fmt = config.raw_format
    sources = {name: read_raw(spark, raw, name, fmt) for name in schema.RAW}
    rows_in = {name: df.count() for name, df in sources.items() if df is not None}
    stages.done("read", sum(rows_in.values()))

    read = {name: validate.check_raw_rows(df, name) for name, df in sources.items() if df is not None}
    users = validate.then(read["users"], validate.check_users(read["users"].kept, config.test_end))
    items = validate.then(
        read["illustrations"], validate.check_illustrations(read["illustrations"].kept, config.test_end)
    )
    users.kept.persist(StorageLevel.MEMORY_AND_DISK)
    items.kept.persist(StorageLevel.MEMORY_AND_DISK)
    events = validate.check_interactions(
        read["interactions"].kept, users.kept, items.kept, config.train_start, config.test_end
    )
    events = validate.then(read["interactions"], events)
    events.kept.persist(StorageLevel.MEMORY_AND_DISK)
    checked = {"users": users, "illustrations": items, "interactions": events}
    if "text_pairs" in read:
        checked["text_pairs"] = validate.then(read["text_pairs"], validate.check_text_pairs(read["text_pairs"].kept))
    counts = {name: balance(name, rows_in[name], c.kept.count(), reject_counts(c)) for name, c in checked.items()}
    stages.done("validate", rows_in["interactions"])

    labelled = ex.label_examples(events.kept)
    negatives_sampled = not ex.has_views(events.kept)
    if negatives_sampled:
        log.info("no views in the log: sampling %d negatives per bookmark", config.negative_ratio)
        negs = ex.sample_negatives(labelled, items.kept, config.negative_ratio, config.negative_seed)
        labelled = labelled.unionByName(negs.select(*labelled.columns))
    labelled = labelled.persist(StorageLevel.MEMORY_AND_DISK)
    splits = ex.split_by_time(labelled, config.train_start, config.valid_start, config.test_start, config.test_end)
    train = splits["train"].persist(StorageLevel.MEMORY_AND_DISK)
    stages.done("label+split", labelled.count())

    user_attrs = ft.user_attributes(users.kept)
    item_attrs = ft.item_attributes(items.kept).persist(StorageLevel.MEMORY_AND_DISK)
    user_w = user_attrs.join(train.groupBy("user_id").agg(F.count("*").alias("w")), "user_id")
    item_w = item_attrs.join(train.groupBy("illust_id").agg(F.count("*").alias("w")), "illust_id")
    ctx = train.join(item_attrs.select("illust_id", "created_at"), "illust_id").select(
        ft.item_age(F.col("ts"), F.col("created_at")).alias("item_age"), F.lit(1).alias("w")
    )
    value_counts = (
        ft.weighted_value_counts(user_w, "w", ["user_id", *ft.USER_FEATURES], {"interest_tags": "tag"})
        .unionByName(ft.weighted_value_counts(item_w, "w", ["illust_id", *ft.ITEM_FEATURES], {"tags": "tag"}))
        .unionByName(ft.weighted_value_counts(ctx, "w", ["item_age"], {}))
        .groupBy("feature", "value")
        .agg(F.sum("count").alias("count"))
    )
    published_before_test = item_attrs.where(F.col("created_at") < F.lit(config.test_start).cast("timestamp"))
    fitted = ft.fit_vocab(value_counts, config.min_count, config.min_count_by_feature).unionByName(
        pretext.pretext_vocab(published_before_test, config.pretext_num_labels)
    )
    versions, table_rows = {}, {}

    def save(name: str, df: DataFrame, partition_by: tuple[str, ...] = (), mode: str = "overwrite") -> DataFrame:
        """Commit `df` as table `name`; return it read back from Delta (a short plan for later joins)."""
        target = schema.lake_schema(name)
        path = storage.join(lake, name)
        versions[name] = write_delta(
            df.select(*target.names), path, mode, partition_by, target, description=f"umair prep run {run_id}"
        )
        written = read_delta(spark, path)
        table_rows[name] = written.count()
        return written

    vocab = save("vocab", fitted).persist(StorageLevel.MEMORY_AND_DISK)
    stages.done("vocab", table_rows["vocab"])

    user_table = save("users", index_users(user_attrs, vocab, config)).persist(StorageLevel.MEMORY_AND_DISK)
    item_table = save("items", index_items(item_attrs, vocab, config)).persist(StorageLevel.MEMORY_AND_DISK)
    stages.done("users+items", table_rows["users"] + table_rows["items"])
    for split in schema.SPLITS:
        df = interaction_rows(splits[split], user_table, item_table, vocab)
        save(f"interactions_{split}", df, ("month",) if config.partition_interactions_by_month else ())
    stages.done("interactions", sum(table_rows[f"interactions_{s}"] for s in schema.SPLITS))

    labels_vocab = vocab.where(F.col("feature") == pretext.PRETEXT_FEATURE)
    save("pretext_image_labels", pretext.pretext_image_labels(item_table, labels_vocab, config.pretext_max_labels))
    if "text_pairs" in checked:
        save("text_pairs", pretext.clean_text_pairs(checked["text_pairs"].kept))
    save("rejects", validate.all_rejected(checked.values()).withColumn("run_id", F.lit(run_id)))
    stages.done("pretext+rejects")

    split_stats = {s: {"rows": table_rows[f"interactions_{s}"]} for s in schema.SPLITS}
    for s in schema.SPLITS:
        agg = splits[s].agg(F.min("ts").alias("min"), F.max("ts").alias("max"), F.avg("label").alias("pos")).first()
        assert agg is not None  # a global aggregate has one row
        split_stats[s].update({"min_ts": str(agg["min"]), "max_ts": str(agg["max"]), "positive_rate": agg["pos"]})
    record: dict[str, Any] = {
        "run_id": run_id,
        "raw": storage.absolute(raw),
        "lake": storage.absolute(lake),
        "counts": counts,
        "tables": table_rows,
        "versions": versions,
        "splits": split_stats,
        "negatives_sampled": negatives_sampled,
        "time_ranges": {
            "train": [config.train_start, config.valid_start],
            "valid": [config.valid_start, config.test_start],
            "test": [config.test_start, config.test_end],
        },
        "stages": {"seconds": stages.seconds, "rows": stages.rows},
        "config": config.to_dict(),
    }
    finished = datetime.now(UTC)
    run_row = spark.createDataFrame(
        [
            (
                run_id,
                started,
                finished,
                json.dumps(config.to_dict()),
                json.dumps(record["counts"]),
                json.dumps({**record["time_ranges"], "splits": split_stats}),
                json.dumps(versions),
            )
        ],
        "run_id string, started_at timestamp, finished_at timestamp, config string, counts string, time_ranges string, versions string",
    )
    save("runs", run_row, mode="append")
    record["versions"] = versions
    record["dataset"] = str(write_spec(vocab, lake, table_rows["items"], config, f"written by umair prep run {run_id}"))
    for df in (users.kept, items.kept, events.kept, labelled, train, item_attrs, vocab, user_table, item_table):
        df.unpersist()
    return record


def print_record(r: dict) -> None:
    print(f"Preprocessing run {r['run_id']}: {r['raw']} -> {r['lake']}")
    print(f"  {'source':<14}{'rows in':>12}{'kept':>12}{'rejected':>10}  reasons")
    for name, c in r["counts"].items():
        reasons = ", ".join(f"{k}={v}" for k, v in c["reasons"].items()) or "-"
        print(
            f"  {name:<14}{c['in']:>12,}{c['kept']:>12,}{c['rejected']:>10,}  {reasons}"
            f"   (balanced: {c['in']} = {c['kept']} + {c['rejected']})"
        )
    for s, st in r["splits"].items():
        print(
            f"  interactions_{s:<6} {st['rows']:>10,} examples, positive rate {st['positive_rate'] or 0:.3f}, "
            f"{st['min_ts']} .. {st['max_ts']}"
        )
    if r["negatives_sampled"]:
        print("  (the log had no views: negatives were sampled by popularity)")
    print(f"  dataset spec: {r['dataset']}  (what umair train / compare read)")
    print("  Delta tables (version):")
    for name, v in r["versions"].items():
        print(f"    {r['lake']}/{name}  v{v}  {r['tables'].get(name, 0):,} rows")


def build_parser() -> argparse.ArgumentParser:
    return lake_job_parser(
        "Build the Delta lake from a raw landing zone (Spark).",
        "raw landing zone folder",
        "lake root; each table is a Delta table under it",
        "YAML with a `prep:` section (default: the paper's settings)",
    )


def main(argv: list[str] | None = None) -> int:
    args, config, spark = start_lake_job("umair-prep", build_parser(), argv)
    print_record(build(spark, args.raw, args.lake, config))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
