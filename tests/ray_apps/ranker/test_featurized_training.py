"""The dataset.yaml that `featurize` writes trains models end to end as it is: `compare --dataset`
with a baseline and UMAIR-FPS (no item vectors: its metadata modality only)."""

from __future__ import annotations

import math

from deltalake import DeltaTable

from ray_apps.ranker.compare import compare
from ray_apps.ranker.config import TrainConfig
from ray_apps.ranker.data import DatasetConfig
from tests.conftest import SMALL_MODEL


def test_featurized_lake_trains_a_baseline_and_umair_fps(featurized, ray_local, tmp_path):
    lake, record, _ = featurized
    dataset = DatasetConfig.from_yaml(lake / "dataset.yaml")
    assert dataset.user_column == "user_key" and dataset.item_features is None
    groups = {f.name: f.group for f in dataset.spec.fields}
    assert groups["user_id"] == "user" and groups["item_id"] == "item" and groups["hour"] == "context"
    base = TrainConfig(overrides=SMALL_MODEL, batch_size=64, epochs=1)
    results = compare(str(lake), str(tmp_path / "runs"), ["dcn_v2", "umair_fps"], [], base, dataset=dataset)
    test_rows = DeltaTable(str(lake / "interactions_test")).to_pyarrow_table().num_rows
    assert [r["model"] for r in results] == ["dcn_v2", "umair_fps"]
    for r in results:
        assert r["examples"] == test_rows == record["splits"]["test"]["rows"]
        assert 0.0 < r["auc"] < 1.0 and math.isfinite(r["logloss"]) and math.isfinite(r["gauc"])
