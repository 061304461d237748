"""Spark job: take the days that arrived in the landing zone into a lake `prep` built, one day at a time.

    umair ingest --raw RAW --lake LAKE [--config FILE]
    deploy/spark/submit.sh ingest --raw RAW --lake LAKE

A day is a partition RAW/<dataset>/date=YYYY-MM-DD/ (interactions; users and illustrations when the
day brings new ones). For each day not in LAKE/ingest_log, oldest first:
  read -> validate (the prep rules, plus late_event: an event older than the watermark, and
  already_in_lake: a user or illustration the lake holds) -> label -> vocabularies extended (new
  values get new indices after the largest; no index ever changes) -> users and items upserted
  (Delta merge: new rows inserted, rows whose id just got an index updated) -> the splits rolled
  (train += valid, valid = test, test = the day; train cut to `train_window_days` when set) ->
  rejects appended -> the day recorded in ingest_log (the watermark is the end of its newest day).
A day already in the log is skipped and said so; a failure restores every table the day touched
to its version before the day (delta-rs restore), so a rerun starts clean.
"""

from __future__ import annotations

import argparse
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_jobs import build_datasets as prep
from spark_jobs import schema
from spark_jobs.config import PrepConfig
from spark_jobs.delta import delete_rows, merge_rows, read_delta, restore_versions, write_delta
from spark_jobs.landing import arrived_days
from spark_jobs.raw import RawFileError, read_raw
from spark_jobs.session import lake_job_parser, start_lake_job
from spark_jobs.transforms import examples as ex
from spark_jobs.transforms import features as ft
from spark_jobs.transforms import validate
from umair_models import storage

log = logging.getLogger("umair.ingest")
LOG_TABLE = "ingest_log"
TOUCHED = ("vocab", "users", "items", *(f"interactions_{s}" for s in schema.SPLITS), "rejects", LOG_TABLE)


class IngestError(RuntimeError):
    """The lake cannot take a day in (no lake yet, no views in the day's log)."""


def ingested(spark: SparkSession, lake: str) -> dict[str, str]:
    """{date: run_id} of the days LAKE/ingest_log records."""
    path = storage.join(lake, LOG_TABLE)
    if not storage.is_delta_table(path):
        return {}
    return {r["date"]: r["run_id"] for r in read_delta(spark, path).select("date", "run_id").collect()}


def _next(day: str) -> str:
    return (datetime.fromisoformat(day) + timedelta(days=1)).strftime("%Y-%m-%d")


def _versions(lake: str) -> dict[str, int | None]:
    from deltalake import DeltaTable

    paths = {name: storage.join(lake, name) for name in TOUCHED}
    return {n: DeltaTable(p).version() if storage.is_delta_table(p) else None for n, p in paths.items()}


def _day_counts(examples: DataFrame, new_users: DataFrame, new_items: DataFrame, items: DataFrame) -> DataFrame:
    """(feature, value, count) of what the day brings: ids by their examples, new users' and new
    illustrations' attributes once each, item ages of the day's examples."""
    one = F.lit(1).alias("w")
    parts = [
        ft.weighted_value_counts(examples.groupBy("user_id").agg(F.count("*").alias("w")), "w", ["user_id"], {}),
        ft.weighted_value_counts(examples.groupBy("illust_id").agg(F.count("*").alias("w")), "w", ["illust_id"], {}),
        ft.weighted_value_counts(
            new_users.select("*", one), "w", ["user_id", *ft.USER_FEATURES], {"interest_tags": "tag"}
        ),
        ft.weighted_value_counts(new_items.select("*", one), "w", ["illust_id", *ft.ITEM_FEATURES], {"tags": "tag"}),
        ft.weighted_value_counts(
            examples.join(items.select("illust_id", "created_at"), "illust_id").select(
                ft.item_age(F.col("ts"), F.col("created_at")).alias("item_age"), one
            ),
            "w",
            ["item_age"],
            {},
        ),
    ]
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out.groupBy("feature", "value").agg(F.sum("count").alias("count"))


def _upserts(
    lake_rows: DataFrame, new_rows: DataFrame, key: str, idx: str, added: DataFrame, feature: str
) -> DataFrame:
    """Rows to merge: the new rows, and lake rows whose `key` just got an index (their `idx` set to it)."""
    fresh = added.where(F.col("feature") == feature).select(F.col("value").alias(key), F.col("index").alias("_new"))
    updated = lake_rows.join(fresh, key).withColumn(idx, F.col("_new").cast(lake_rows.schema[idx].dataType))
    return updated.select(*lake_rows.columns).unionByName(new_rows.select(*lake_rows.columns))


def ingest_day(spark: SparkSession, raw: str, lake: str, day: str, watermark: str | None, config: PrepConfig) -> dict:
    """Take one arriving day in; returns its record (also a row of LAKE/ingest_log)."""
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]
    end = _next(day)
    late_before = max(day, watermark) if watermark else day
    sources = {n: read_raw(spark, raw, n, config.raw_format, day) for n in ("interactions", "users", "illustrations")}
    if sources["interactions"] is None:
        raise IngestError(f"{raw}/interactions/date={day}/ holds no data files")
    empty = {n: read_raw(spark, raw, n, config.raw_format) for n in ("users", "illustrations") if sources[n] is None}
    sources.update({n: df.limit(0) for n, df in empty.items() if df is not None})
    rows_in = {n: df.count() for n, df in sources.items() if df is not None}  # a bad file stops the job here

    lake_users, lake_items = read_delta(spark, f"{lake}/users"), read_delta(spark, f"{lake}/items")
    read = {n: validate.check_raw_rows(df, n) for n, df in sources.items() if df is not None}
    users = validate.not_in_lake(
        validate.then(read["users"], validate.check_users(read["users"].kept, end)), "users", "user_id", lake_users
    )
    items = validate.not_in_lake(
        validate.then(read["illustrations"], validate.check_illustrations(read["illustrations"].kept, end)),
        "illustrations",
        "illust_id",
        lake_items,
    )
    users.kept.cache(), items.kept.cache()
    known_users = lake_users.select("user_id").unionByName(users.kept.select("user_id"))
    known_items = lake_items.select("illust_id", "created_at").unionByName(items.kept.select("illust_id", "created_at"))
    events = validate.then(
        read["interactions"],
        validate.check_interactions(read["interactions"].kept, known_users, known_items, day, end, late_before),
    )
    events.kept.cache()
    checked = {"interactions": events, "users": users, "illustrations": items}
    counts = {n: prep.balance(n, rows_in[n], c.kept.count(), prep.reject_counts(c)) for n, c in checked.items()}
    if counts["interactions"]["kept"] and not ex.has_views(events.kept):
        raise IngestError(
            f"day {day}: the log has no views; ingest needs them (prep samples negatives, ingest does not)"
        )
    examples = ex.label_examples(events.kept).cache()

    before = _versions(lake)
    desc = f"umair ingest {day} run {run_id}"
    try:
        vocab = read_delta(spark, f"{lake}/vocab")
        user_attrs, item_attrs = ft.user_attributes(users.kept), ft.item_attributes(items.kept)
        day_counts = _day_counts(examples, user_attrs, item_attrs, known_items)
        added = ft.extend_vocab(vocab, day_counts, config.min_count, config.min_count_by_feature).cache()
        versions = {"vocab": write_delta(added, f"{lake}/vocab", "append", (), schema.LAKE["vocab"], desc)}
        vocab = read_delta(spark, f"{lake}/vocab").cache()

        new_users = prep.index_users(user_attrs, vocab, config)
        user_rows = _upserts(lake_users, new_users, "user_id", "user_idx", added, "user_id")
        versions["users"] = merge_rows(f"{lake}/users", user_rows.toArrow(), "user_id", desc)
        top = lake_items.agg(F.max("item_idx")).first()[0] or 0  # new illustrations number after the catalogue
        new_items = prep.index_items(item_attrs, vocab, config).withColumn("item_idx", F.col("item_idx") + F.lit(top))
        item_rows = _upserts(lake_items, new_items, "illust_id", "item_id_idx", added, "illust_id")
        versions["items"] = merge_rows(f"{lake}/items", item_rows.toArrow(), "illust_id", desc)

        all_users, all_items = read_delta(spark, f"{lake}/users"), read_delta(spark, f"{lake}/items")
        rows = prep.interaction_rows(examples, all_users, all_items, vocab)
        versions.update(_roll_splits(spark, lake, rows, day, config, desc))
        rejects = validate.all_rejected(checked.values()).withColumn("run_id", F.lit(run_id))
        versions["rejects"] = write_delta(rejects, f"{lake}/rejects", "append", (), schema.LAKE["rejects"], desc)
        num_items = read_delta(spark, f"{lake}/items").count()
        spec = prep.write_spec(vocab, lake, num_items, config, f"written by umair ingest {day} run {run_id}")
        record: dict[str, Any] = {
            "date": day,
            "run_id": run_id,
            "counts": counts,
            "examples": examples.count(),
            "new_vocab": {r["feature"]: r["count"] for r in added.groupBy("feature").count().collect()},
            "versions": versions,
            "dataset": str(spec),
        }
        log_row = spark.createDataFrame(
            [
                (
                    day,
                    run_id,
                    datetime.now(UTC),
                    json.dumps({**counts, "examples": record["examples"]}),
                    json.dumps(versions),
                )
            ],
            "date string, run_id string, finished_at timestamp, counts string, versions string",
        )
        record["versions"][LOG_TABLE] = write_delta(
            log_row, f"{lake}/{LOG_TABLE}", "append", (), schema.LAKE[LOG_TABLE], desc
        )
        return record
    except BaseException:
        restored = restore_versions(lake, before)
        log.error("ingest of %s failed; restored %s to their versions before it", day, ", ".join(restored) or "nothing")
        raise
    finally:
        for df in (users.kept, items.kept, events.kept, examples):
            df.unpersist()


def _roll_splits(spark: SparkSession, lake: str, day_rows: DataFrame, day: str, config: PrepConfig, desc: str) -> dict:
    """train += valid, valid = test, test = the day's rows; then train keeps its last window."""
    paths = {s: f"{lake}/interactions_{s}" for s in schema.SPLITS}
    target = schema.lake_schema("interactions_test")
    parts = ("month",) if config.partition_interactions_by_month else ()
    old_valid, old_test = read_delta(spark, paths["valid"]), read_delta(spark, paths["test"])
    v = {"interactions_train": write_delta(old_valid, paths["train"], "append", parts, target, desc)}
    v["interactions_valid"] = write_delta(old_test, paths["valid"], "overwrite", parts, target, desc)
    v["interactions_test"] = write_delta(
        day_rows.select(*target.names), paths["test"], "overwrite", parts, target, desc
    )
    if config.train_window_days:
        start = datetime.fromisoformat(day) - timedelta(days=config.train_window_days + 1)
        v["interactions_train"] = delete_rows(paths["train"], f"ts < '{start.strftime('%Y-%m-%d')}T00:00:00Z'")
    return v


def ingest(spark: SparkSession, raw: str, lake: str, config: PrepConfig = PrepConfig()) -> list[dict]:
    """Every arrived day not yet in the lake, oldest first; a day already taken in is reported, not redone."""
    if not storage.is_delta_table(storage.join(lake, "vocab")):
        raise IngestError(
            f"{lake} has no lake yet: build it from the history first (umair prep --raw {raw} --lake {lake})"
        )
    done = ingested(spark, lake)
    records = []
    for day in arrived_days(raw):
        if day in done:
            records.append({"date": day, "skipped": f"already ingested by run {done[day]}"})
            continue
        watermark = _next(max(done)) if done else None
        log.info("ingesting %s (watermark %s)", day, watermark or "none: the first day")
        records.append(ingest_day(spark, raw, lake, day, watermark, config))
        done[day] = records[-1]["run_id"]
    return records


def print_records(raw: str, lake: str, records: list[dict]) -> None:
    if not records:
        print(f"No arrived days under {raw}/interactions/date=*/: nothing to ingest.")
    for r in records:
        if "skipped" in r:
            print(f"Day {r['date']}: skipped, {r['skipped']}.")
            continue
        c = r["counts"]
        reasons = ", ".join(f"{k}={v}" for n in c for k, v in c[n]["reasons"].items()) or "none"
        print(
            f"Day {r['date']} (run {r['run_id']}): {c['interactions']['in']:,} events in, {c['interactions']['kept']:,} kept "
            f"-> {r['examples']:,} examples now the test split; {c['users']['kept']} new users, "
            f"{c['illustrations']['kept']} new illustrations; rejected: {reasons}"
        )
        grown = ", ".join(f"{k} +{v}" for k, v in sorted(r["new_vocab"].items())) or "none"
        print(f"  vocabularies grown (no index renumbered): {grown}; dataset spec {r['dataset']}")
    if records:
        print(f"  lake: {lake} (tables and versions in {lake}/ingest_log)")


def build_parser() -> argparse.ArgumentParser:
    return lake_job_parser(
        "Take the days that arrived in the landing zone into the lake (Spark).",
        "landing zone: days under <dataset>/date=YYYY-MM-DD/",
        "a lake built by umair prep",
        "YAML with a `prep:` section (the same one prep used)",
    )


def main(argv: list[str] | None = None) -> int:
    args, config, spark = start_lake_job("umair-ingest", build_parser(), argv)
    try:
        print_records(args.raw, args.lake, ingest(spark, args.raw, args.lake, config))
    except (IngestError, RawFileError) as e:
        print(f"umair ingest: {e} (nothing was written)")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
