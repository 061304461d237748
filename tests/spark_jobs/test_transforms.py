"""Pure transformations on small hand-made DataFrames (local Spark)."""

from __future__ import annotations

from datetime import datetime

import pytest
from pyspark.sql import Row
from pyspark.sql import functions as F

from spark_jobs.transforms import examples as ex
from spark_jobs.transforms import features as ft
from spark_jobs.transforms import validate


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture
def users(spark):
    return spark.createDataFrame(
        [Row(user_id="u1", created_at=ts("2020-01-01")), Row(user_id="u2", created_at=ts("2020-01-01"))]
    )


@pytest.fixture
def items(spark):
    return spark.createDataFrame([Row(illust_id=f"i{k}", created_at=ts("2020-06-01")) for k in range(1, 6)])


def test_every_reject_reason_comes_from_its_dirty_row_and_nothing_else(spark, users, items):
    good = ("u1", "i1", "view", ts("2021-03-01 10:00:00"))
    rows = {
        "clean": good,
        "clean_bookmark": ("u1", "i1", "bookmark", ts("2021-03-01 10:05:00")),
        "null_id": (None, "i1", "view", ts("2021-03-01 10:00:00")),
        "bad_timestamp": ("u1", "i2", "view", None),
        "out_of_time_range": ("u1", "i2", "view", ts("2019-05-05 00:00:00")),
        "bad_event": ("u1", "i2", "click", ts("2021-03-01 10:00:00")),
        "unknown_user_id": ("u999", "i2", "view", ts("2021-03-01 10:00:00")),
        "unknown_illust_id": ("u2", "i999", "view", ts("2021-03-01 10:00:00")),
        "duplicate": good,
    }
    df = spark.createDataFrame(
        [r for r in rows.values()], "user_id string, illust_id string, event string, ts timestamp"
    )
    checked = validate.check_interactions(df, users, items, "2021-01-01", "2022-01-01")
    rejected = {(r["reason"], r["record"]) for r in checked.rejected.collect()}
    assert sorted(reason for reason, _ in rejected) == sorted(k for k in rows if not k.startswith("clean"))
    assert (
        "out_of_time_range",
        '{"user_id":"u1","illust_id":"i2","event":"view","ts":"2019-05-05T00:00:00.000Z"}',
    ) in rejected
    kept = checked.kept.collect()
    assert len(kept) == 2 and {r["event"] for r in kept} == {"view", "bookmark"}
    assert checked.kept.count() + checked.rejected.count() == df.count()


def test_users_items_and_text_pairs_reject_null_and_duplicate_ids(spark):
    users = spark.createDataFrame(
        [("u1", ts("2020-01-02")), ("u1", ts("2020-01-01")), (None, ts("2020-01-01")), ("u2", None)],
        "user_id string, created_at timestamp",
    )
    checked = validate.check_users(users)
    assert sorted(r["reason"] for r in checked.rejected.collect()) == ["duplicate", "null_id"]
    kept = {r["user_id"]: r["created_at"] for r in checked.kept.collect()}
    assert kept == {"u1": ts("2020-01-01"), "u2": None}  # the earliest u1 stays; a missing optional field is fine
    pairs = spark.createDataFrame(
        [("a", "b", "relation"), (" a ", "b", "relation"), ("", "b", "relation"), ("a", "c", "rumour")],
        "anchor string, positive string, perspective string",
    )
    checked = validate.check_text_pairs(pairs)
    assert sorted(r["reason"] for r in checked.rejected.collect()) == ["bad_perspective", "duplicate", "null_field"]


def test_labels_one_row_per_user_item(spark):
    events = spark.createDataFrame(
        [
            ("u1", "i1", "view", ts("2021-03-01 10:00:00")),
            ("u1", "i1", "bookmark", ts("2021-03-01 10:01:00")),
            ("u1", "i1", "view", ts("2021-03-02 10:00:00")),
            ("u1", "i2", "view", ts("2021-03-03 10:00:00")),
            ("u2", "i3", "bookmark", ts("2021-03-04 10:00:00")),
        ],
        "user_id string, illust_id string, event string, ts timestamp",
    )
    got = {(r.user_id, r.illust_id): (r.label, r.ts) for r in ex.label_examples(events).collect()}
    assert got == {
        ("u1", "i1"): (1, ts("2021-03-01 10:00:00")),
        ("u1", "i2"): (0, ts("2021-03-03 10:00:00")),
        ("u2", "i3"): (1, ts("2021-03-04 10:00:00")),
    }


def test_negatives_never_hit_positives_and_are_seeded(spark, items):
    positives = spark.createDataFrame(
        [(f"u{u}", f"i{1 + (u + k) % 5}", ts("2021-05-01"), 1) for u in range(30) for k in range(3)],
        "user_id string, illust_id string, ts timestamp, label int",
    )
    negs = ex.sample_negatives(positives, items, ratio=4, seed=3)
    rows = negs.collect()
    pos = {(r.user_id, r.illust_id) for r in positives.collect()}
    assert rows and all((r.user_id, r.illust_id) not in pos for r in rows)
    assert all(r.label == 0 for r in rows)
    again = ex.sample_negatives(positives, items, ratio=4, seed=3).collect()
    assert sorted(map(tuple, rows)) == sorted(map(tuple, again))


def test_split_has_no_leakage(spark):
    df = spark.createDataFrame(
        [(ts(f"2021-{m:02d}-15"), m) for m in range(1, 13)] + [(ts("2020-12-31"), 0), (ts("2022-01-01"), 13)],
        "ts timestamp, m int",
    )
    splits = ex.split_by_time(df, "2021-01-01", "2021-09-10", "2021-10-01", "2022-01-01")
    months = {k: sorted(r.m for r in v.collect()) for k, v in splits.items()}
    assert months == {"train": list(range(1, 9)), "valid": [9], "test": [10, 11, 12]}
    assert splits["test"].agg(F.min("ts")).first()[0] >= ts("2021-10-01")
    assert splits["train"].agg(F.max("ts")).first()[0] < ts("2021-09-10")


def test_vocab_min_count_ordering_and_oov(spark):
    df = spark.createDataFrame(
        [("a", ["x", "y"], 3), ("b", ["y"], 1), ("c", ["z"], 1), ("a", [], 1)],
        "color string, tags array<string>, w long",
    )
    counts = ft.weighted_value_counts(df, "w", ["color"], {"tags": "tag"})
    vocab = ft.fit_vocab(counts, 2, {"color": 1})
    got = {(r["feature"], r["value"]): (r["index"], r["count"]) for r in vocab.collect()}
    assert got == {
        ("color", "a"): (1, 4),
        ("color", "b"): (2, 1),
        ("color", "c"): (3, 1),
        ("tag", "y"): (1, 4),
        ("tag", "x"): (2, 3),
    }  # z seen once: below min_count, so OOV
    probe = spark.createDataFrame(
        [("k1", "a", ["z", "y", "x", "q"]), ("k2", "never", None)], "k string, color string, tags array<string>"
    )
    out = ft.lookup_list(
        ft.lookup(probe, vocab, "color", "color", "color_idx"), "k", vocab, "tag", "tags", "tags_idx", 3
    )
    rows = {r.k: (r.color_idx, r.tags_idx) for r in out.collect()}
    assert rows == {"k1": (1, [1, 2, 0]), "k2": (0, [0, 0, 0])}  # unknown -> 0; lists keep order, pad with 0


def test_an_integer_column_is_looked_up_as_the_number_its_vocabulary_text_names(spark):
    counts = spark.createDataFrame(
        [("n", "7", 5), ("n", "12", 3), ("n", "-4", 2), ("s", "7", 9)], "feature string, value string, count long"
    )
    vocab = ft.fit_vocab(counts, 1)
    probe = spark.createDataFrame([(1, 7), (2, 12), (3, -4), (4, 99), (5, None)], "k int, n int")
    as_long = probe.withColumn("n", F.col("n").cast("long"))
    for df in (probe, as_long):
        got = {r.k: r.n_idx for r in ft.lookup(df, vocab, "n", "n", "n_idx").collect()}
        assert got == {1: 1, 2: 2, 3: 3, 4: 0, 5: 0}  # by count; unseen and null -> 0; feature "s" not mixed in


def test_position_index_equals_row_number_without_a_single_partition(spark):
    from pyspark.sql import Window

    from spark_jobs.transforms.indexing import position_index

    rows = [(f"f{i % 3}", f"v{i:05d}", (i * 7919) % 50) for i in range(3000)]
    df = spark.createDataFrame(rows, "feature string, value string, count long").repartition(6)
    order = [F.col("count").desc(), F.col("value").asc()]
    got = position_index(df, order, "index", within="feature")
    assert got.rdd.getNumPartitions() > 1
    reference = df.withColumn("index", F.row_number().over(Window.partitionBy("feature").orderBy(*order)))
    assert sorted(got.collect()) == sorted(reference.select(*got.columns).collect())
    overall = position_index(df, ["value"], "pos")
    assert sorted(r.pos for r in overall.collect()) == list(range(1, 3001))
    assert {r.value: r.pos for r in overall.collect()}["v00000"] == 1
