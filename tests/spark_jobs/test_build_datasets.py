"""The preprocessing job end to end on the tiny site, and Delta's atomic / idempotent behaviour."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F

from ray_apps.lake import read_table
from spark_jobs import schema
from spark_jobs.build_datasets import build
from spark_jobs.delta import read_delta, write_delta
from umair_models import dataset_spec

TABLES = ["users", "items", "vocab", "rejects", "runs", "pretext_image_labels", "text_pairs"] + [
    f"interactions_{s}" for s in schema.SPLITS
]


def _table(lake, name) -> pa.Table:
    return read_table(lake / name)


@pytest.mark.parametrize("name", TABLES)
def test_every_lake_table_is_a_delta_table_with_its_schema(tiny_lake, name):
    lake, _ = tiny_lake
    table = DeltaTable(str(lake / name))
    got = pa.schema(table.schema().to_arrow())
    assert [f.name for f in got] == schema.lake_schema(name).names or sorted(got.names) == sorted(
        schema.lake_schema(name).names
    )
    assert _table(lake, name).num_rows > 0


def test_counts_balance_and_rejects_match_the_generators_dirt(tiny_lake, tiny_site):
    lake, record = tiny_lake
    _, manifest = tiny_site
    dirty = manifest["dirty_rows"]
    for source, c in record["counts"].items():
        assert c["in"] == c["kept"] + c["rejected"] and c["rejected"] == sum(c["reasons"].values()), source
    reasons = record["counts"]["interactions"]["reasons"]
    assert reasons == {
        "null_id": dirty["interactions.null_user_id"] + dirty["interactions.null_illust_id"],
        "bad_timestamp": dirty["interactions.null_ts"],
        "out_of_time_range": dirty["interactions.out_of_range_ts"],
        "bad_event": dirty["interactions.bad_event"],
        "unknown_user_id": dirty["interactions.unknown_user_id"],
        "unknown_illust_id": dirty["interactions.unknown_illust_id"],
        "duplicate": dirty["interactions.duplicate_event"],
    }
    assert record["counts"]["users"]["reasons"] == {
        "null_id": dirty["users.null_user_id"],
        "duplicate": dirty["users.duplicate_user"],
    }
    assert record["counts"]["text_pairs"]["reasons"] == {
        "null_field": dirty["text_pairs.empty_anchor"],
        "duplicate": dirty["text_pairs.duplicate_pair"],
    }
    rejects = _table(lake, "rejects")
    assert rejects.num_rows == sum(c["rejected"] for c in record["counts"].values())


def test_examples_are_split_by_time_with_indices_and_labels(tiny_lake):
    lake, record = tiny_lake
    train, test = _table(lake, "interactions_train"), _table(lake, "interactions_test")
    assert pc.max(train["ts"]).as_py().isoformat() < "2021-09-17"
    assert pc.min(test["ts"]).as_py().isoformat() >= "2021-10-01"
    assert set(pc.unique(train["label"]).to_pylist()) == {0, 1}
    items = _table(lake, "items")
    assert pc.min(items["item_idx"]).as_py() == 1 and pc.max(items["item_idx"]).as_py() == items.num_rows
    # cold start: test items unseen in train keep their catalogue index but have OOV id index 0
    train_items = set(train["illust_id"].to_pylist())
    cold = test.filter(pc.invert(pc.is_in(test["illust_id"], pa.array(list(train_items)))))
    assert cold.num_rows > 0 and set(cold["item_id_idx"].to_pylist()) == {0} and pc.min(cold["item_idx"]).as_py() > 0
    assert all(len(t) == 12 for t in train["tags_idx"].to_pylist())


def test_no_vocabulary_is_fitted_on_test_data(tiny_lake):
    lake, _ = tiny_lake
    vocab = _table(lake, "vocab").to_pandas()
    train = _table(lake, "interactions_train").to_pandas()
    test_only_users = set(_table(lake, "interactions_test")["user_id"].to_pylist()) - set(train.user_id)
    user_vocab = set(vocab[vocab.feature == "user_id"].value)
    assert user_vocab <= set(train.user_id) and not (test_only_users & user_vocab)


def test_pretext_and_text_pairs(tiny_lake):
    lake, _ = tiny_lake
    labels = _table(lake, "pretext_image_labels")
    assert labels.num_rows > 0 and all(0 < len(x) <= 8 for x in labels["label_idx"].to_pylist())
    pairs = _table(lake, "text_pairs").to_pandas()
    assert not pairs.duplicated(["anchor", "positive", "perspective"]).any()
    assert set(pairs.perspective) == {"multilingual", "relation", "explanation"}


def test_rerun_is_idempotent_at_a_new_version(spark, tiny_site, tiny_lake, tmp_path):
    raw, _ = tiny_site
    lake, first = tiny_lake
    copy = tmp_path / "lake"
    shutil.copytree(lake, copy)
    second = build(spark, str(raw), str(copy))
    for name in ("users", "items", "vocab", "interactions_train", "interactions_test"):
        assert second["versions"][name] == first["versions"][name] + 1
        a = _table(lake, name).to_pandas().sort_values(list(_table(lake, name).column_names[:2])).reset_index(drop=True)
        b = _table(copy, name).to_pandas().sort_values(list(a.columns[:2])).reset_index(drop=True)
        assert a.astype(str).equals(b[a.columns].astype(str)), name
    assert _table(copy, "runs").num_rows == 2


def test_a_failed_write_leaves_the_previous_version(spark, tmp_path):
    path = str(tmp_path / "t")
    target = pa.schema([("id", pa.int64()), ("v", pa.string())])
    good = spark.createDataFrame([(i, str(i)) for i in range(10)], "id long, v string").repartition(2)
    v0 = write_delta(good, path, schema=target)

    @F.udf("string")
    def explode_on_seven(v):
        if v == "7":
            raise RuntimeError("injected task failure")
        return v

    failing = good.withColumn("v", explode_on_seven("v"))
    with pytest.raises(Exception, match="injected task failure"):
        write_delta(failing, path, schema=target)
    assert DeltaTable(path).version() == v0 and read_table(path).num_rows == 10
    assert read_delta(spark, path).count() == 10
    with pytest.raises(Exception, match="does not fit|do not match"):  # a schema mismatch is refused, nothing committed
        write_delta(spark.createDataFrame([("x", "y")], "id string, v string"), path, schema=target)
    assert DeltaTable(path).version() == v0


def test_prep_writes_the_dataset_spec_the_ranker_reads(tiny_lake):
    """LAKE/dataset.yaml names every index column of the splits, sized from the lake's own vocabulary,
    with the tag lengths prep padded to and the whole item catalogue."""
    from ray_apps.ranker.data import DatasetConfig

    lake, record = tiny_lake
    assert record["dataset"] == str(lake / "dataset.yaml")
    assert (lake / "dataset.yaml").read_text().startswith(f"# written by umair prep run {record['run_id']}")
    dataset = DatasetConfig.for_lake(lake, multimodal=False)
    index_columns = {c for c in schema.lake_schema("interactions_train").names if c.endswith("_idx")} - {"item_idx"}
    assert {f.name for f in dataset.spec.fields} == index_columns
    vocab = read_table(lake / "vocab").to_pandas().groupby("feature")["index"].max()
    assert dataset.spec["artist_idx"].vocab_size == vocab["artist_id"] + 1
    assert dataset.spec["tags_idx"].vocab_size == dataset.spec["interest_tags_idx"].vocab_size == vocab["tag"] + 1
    config = record["config"]
    assert (dataset.spec["tags_idx"].max_len, dataset.spec["interest_tags_idx"].max_len) == (
        config["max_item_tags"],
        config["max_interest_tags"],
    )
    assert dataset.tables == {s: str(lake / f"interactions_{s}") for s in schema.SPLITS}
    spec = dataset_spec.parse((lake / "dataset.yaml").read_text(), "dataset.yaml")
    assert spec.item_features is not None and spec.item_features.num_items == record["tables"]["items"]
