"""`featurize` on a user's own tables (tests/own_tables.py: CSV ratings, pandas Parquet users, JSON
lines items, each with planted problems): kinds, join, split, vocabulary, OOV, rejects, re-runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from ray_apps.lake import read_table
from spark_jobs.featurize import featurize
from spark_jobs.featurize_config import ConfigError, FeaturizeConfig
from tests.own_tables import BAD_EVENTS, LATE_ITEM, N_EVENTS, POSTERS


def _table(lake: Path, name: str):
    return read_table(lake / name).to_pandas()


def _vocab(lake: Path, feature: str) -> dict[str, int]:
    v = _table(lake, "vocab")
    v = v[v.feature == feature]
    return dict(zip(v["value"], v["index"], strict=True))


def test_rejects_have_reasons_and_counts_balance(featurized):
    lake, record, _ = featurized
    c = record["counts"]
    assert c["interactions"]["reasons"] == {reason: 1 for reason in BAD_EVENTS}
    assert c["interactions"]["kept"] == N_EVENTS
    assert c["users"]["reasons"] == {"duplicate key (user_id)": 1, "missing key (user_id)": 1}
    assert c["items"]["reasons"] == {"unparseable record": 1}
    for counts in c.values():
        assert counts["in"] == counts["kept"] + counts["rejected"]
    rejects = _table(lake, "rejects")
    assert rejects.groupby(["source", "reason"]).size().to_dict() == {
        (source, reason): n for source, cs in c.items() for reason, n in cs["reasons"].items()
    }
    assert all(json.loads(r) for r in rejects.record)  # each rejected row kept as a record
    assert sum(record["splits"][s]["rows"] for s in ("train", "valid", "test")) == N_EVENTS


def test_time_split_has_no_leakage(featurized):
    lake, record, _ = featurized
    ts = {s: _table(lake, f"interactions_{s}").ts for s in ("train", "valid", "test")}
    assert ts["train"].max() < ts["valid"].min() <= ts["valid"].max() < ts["test"].min()
    assert len(set(ts["train"]) | set(ts["valid"]) | set(ts["test"])) == N_EVENTS  # each event in one split
    assert 0.05 < record["splits"]["test"]["rows"] / N_EVENTS < 0.15


def test_vocabulary_is_fitted_on_train_only_and_unseen_values_count_as_oov(featurized):
    lake, record, facts = featurized
    events = facts["events"]
    train_ts = _table(lake, "interactions_train").ts.max().timestamp()
    train_items = set(events[events.ts.astype(int) <= train_ts].item_id)
    assert set(_vocab(lake, "item_id")) == train_items and LATE_ITEM not in train_items
    test = _table(lake, "interactions_test")
    late_rows = int((events.item_id == LATE_ITEM).sum())
    assert (test.item_id == 0).sum() == late_rows == record["oov_rows"]["test"]["item_id"] > 0
    assert set(_vocab(lake, "occupation")) == {"artist", "doctor", "student"} or "rare" not in _vocab(
        lake, "occupation"
    )


def test_each_column_kind(featurized):
    lake, record, facts = featurized
    train = _table(lake, "interactions_train")
    # categorical: 1..V, index 0 = OOV; label from the rule rating >= 4
    assert train.user_id.between(0, len(_vocab(lake, "user_id"))).all()
    events = facts["events"].set_index(facts["events"].ts.astype(int))
    ratings = events.loc[[int(t.timestamp()) for t in train.ts], "rating"].astype(int).to_numpy()
    assert (train.label.to_numpy() == (ratings >= 4)).all()
    # multi-valued: padded to max_len, known genres first
    genres = np.stack(train.genres.to_numpy())
    assert genres.shape == (len(train), 3) and (genres[:, 0] > 0).all()
    # numeric standardized with train statistics: mean 0, sd 1 over train
    assert abs(train.price.mean()) < 1e-4 and abs(train.price.std(ddof=0) - 1) < 1e-3
    # numeric bucketized: 4 buckets for 3 boundaries, as categorical indices
    assert set(_vocab(lake, "age")) <= {"b0", "b1", "b2", "b3"} and train.age.max() <= 4
    # timestamp part (an integer key, looked up as a number): each row's index names its own hour
    hours = {index: value for value, index in _vocab(lake, "hour").items()}
    assert set(hours.values()) <= {str(h) for h in range(24)}
    assert [hours.get(i, "OOV") for i in train.hour] == [str(t.hour) for t in train.ts]
    # an expression over a side column
    assert all(len(z) == 3 for z in _vocab(lake, "zip3"))


def test_interactions_without_a_side_row_keep_oov_side_features(featurized):
    lake, record, facts = featurized
    rows = {s: _table(lake, f"interactions_{s}") for s in ("train", "valid", "test")}
    missing = sum(int(r.user_key.isin(facts["users_without_row"]).sum()) for r in rows.values())
    assert record["missing_side_rows"] == {"users": missing, "items": 0} and missing > 0
    for r in rows.values():
        orphans = r[r.user_key.isin(facts["users_without_row"])]
        assert (orphans.gender == 0).all() and (orphans.occupation == 0).all() and (orphans.user_id > 0).any()


def test_item_content_becomes_a_catalogue_every_split_points_into(featurized):
    """LAKE/items holds every kept item row (cold ones too) with its image path made absolute and its
    text columns as one list; each interaction's item_idx names its own item's catalogue row."""
    lake, record, facts = featurized
    items = _table(lake, "items").set_index("illust_id")
    given = facts["items"]
    assert set(items.index) == set(given) and LATE_ITEM in items.index  # the broken JSON line is not an item
    assert sorted(items.item_idx) == list(range(1, len(given) + 1))
    folder = Path(facts["folder"]).resolve()
    for item, row in items.iterrows():
        expected = None if item not in POSTERS else str(folder / "posters" / f"{item}.png")
        assert row.image_uri == expected
        assert list(row.tags) == [given[item]["title"], *given[item]["genres"].split("|")]
    assert record["catalogue"] == {"items": len(given), "with_image_path": len(POSTERS), "with_text": len(given)}
    by_idx = dict(zip(items.item_idx, items.index, strict=True))
    events = facts["events"].set_index(facts["events"].ts.astype(int))
    for split in ("train", "valid", "test"):
        rows = _table(lake, f"interactions_{split}")
        named = events.loc[[int(t.timestamp()) for t in rows.ts], "item_id"].to_numpy()
        assert [by_idx[i] for i in rows.item_idx] == list(named)
    test = _table(lake, "interactions_test")
    assert (test.item_idx[test.item_id == 0] == items.item_idx[LATE_ITEM]).all()  # OOV id, still its vectors' row
    dataset = yaml.safe_load((lake / "dataset.yaml").read_text())
    assert dataset["item_features"] == {
        "table": "item_features",
        "key": "item_idx",
        "num_items": len(given),
        "present": "ok",
    }


def test_rerun_writes_the_same_content_at_new_versions(spark, featurized, tmp_path):
    lake, record, facts = featurized
    before = {s: _table(lake, f"interactions_{s}") for s in ("train", "test")}
    again = featurize(spark, FeaturizeConfig.from_yaml(facts["config"]), str(lake))
    for s in ("train", "test"):
        after = _table(lake, f"interactions_{s}")
        key = ["ts"]
        assert after.sort_values(key).reset_index(drop=True).equals(before[s].sort_values(key).reset_index(drop=True))
        assert again["versions"][f"interactions_{s}"] == record["versions"][f"interactions_{s}"] + 1


def test_random_split_puts_every_row_in_one_split(spark, featurized, tmp_path):
    _, _, facts = featurized
    data = yaml.safe_load(Path(facts["config"]).read_text())
    data["split"] = {"by": "random", "valid": 0.2, "test": 0.2, "seed": 5}
    config = FeaturizeConfig.from_dict(data, Path(facts["config"]).parent)
    record = featurize(spark, config, str(tmp_path / "lake"))
    ts = [set(_table(tmp_path / "lake", f"interactions_{s}").ts) for s in ("train", "valid", "test")]
    assert not (ts[0] & ts[1] or ts[0] & ts[2] or ts[1] & ts[2]) and len(ts[0] | ts[1] | ts[2]) == N_EVENTS
    assert 0.1 < record["splits"]["test"]["rows"] / N_EVENTS < 0.3


@pytest.mark.parametrize(
    "change, message",
    [
        ({"split": {"by": "sideways"}}, "split.by"),
        ({"label": {"column": "rating", "rule": "about 4"}}, "label.rule"),
        (
            {"features": [{"name": "x", "kind": "categorical", "colour": "red"}]},
            r"features\[0\]: not a valid Feature:\n  colour: unknown key",
        ),
        ({"split": {"valid": "a tenth"}}, r"split: not a valid Split:\n  valid: Input should be a valid number"),
        ({"users": {"path": "users.parquet"}}, "users.key"),
        ({"timestamp": None}, "timestamp"),
        ({"items": None}, "item_content: needs the `items` table"),
        ({"item_content": {"image_root": "x"}}, "item_content: give `image`, `text` or both"),
    ],
)
def test_a_config_that_cannot_run_is_refused_before_spark(change, message, tmp_path):
    from tests.own_tables import write_own_tables

    facts = write_own_tables(tmp_path)
    data = {**yaml.safe_load(Path(facts["config"]).read_text()), **change}
    with pytest.raises(ConfigError, match=message):
        FeaturizeConfig.from_dict(data, tmp_path)


def test_given_splits_stay_as_given(spark, featurized, tmp_path):
    import pandas as pd

    _, _, facts = featurized
    folder = Path(facts["config"]).parent
    events = pd.read_csv(folder / "interactions.csv", dtype=str, encoding="latin-1")  # keeps the planted bytes
    parts = {"train": events.iloc[:400], "valid": events.iloc[400:500], "test": events.iloc[500:]}
    for split, frame in parts.items():
        frame.to_csv(tmp_path / f"{split}.csv", index=False, encoding="latin-1")
    data = yaml.safe_load(Path(facts["config"]).read_text())
    data["interactions"] = {"path": {s: str(tmp_path / f"{s}.csv") for s in parts}}
    data["split"] = {"by": "given"}
    record = featurize(spark, FeaturizeConfig.from_dict(data, folder), str(tmp_path / "lake"))
    rejected = record["counts"]["interactions"]["rejected"]  # the planted bad rows sit at the end: test
    assert [record["splits"][s]["rows"] for s in ("train", "valid", "test")] == [
        400,
        100,
        len(parts["test"]) - rejected,
    ]
    train = _table(tmp_path / "lake", "interactions_train")
    assert set(train.ts.astype("int64") // 10**6) == set(parts["train"].ts.astype(int))


def test_a_truncated_parquet_table_is_named_and_nothing_is_written(spark, featurized, tmp_path):
    from spark_jobs.raw import RawFileError

    _, _, facts = featurized
    folder = tmp_path / "tables"
    shutil.copytree(Path(facts["config"]).parent, folder)
    users = folder / "users.parquet"
    users.write_bytes(users.read_bytes()[:-50])
    with pytest.raises(RawFileError, match="not a readable Parquet file") as error:
        featurize(spark, FeaturizeConfig.from_yaml(folder / "tables.yaml"), str(tmp_path / "lake"))
    assert error.value.file == str(users)
    assert not (tmp_path / "lake").exists() or not any((tmp_path / "lake").iterdir())
