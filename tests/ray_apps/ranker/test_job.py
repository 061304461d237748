"""Distributed ranker training on the tiny lake: metrics, exact merged AUC, failure recovery, any CTR table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from deltalake import write_deltalake
from sklearn.metrics import log_loss, roc_auc_score

from ray_apps.lake import read_table
from ray_apps.ranker.config import TrainConfig
from ray_apps.ranker.data import DatasetConfig
from ray_apps.ranker.job import run
from tests.conftest import SMALL_MODEL


def test_two_workers_train_umair_and_a_baseline_and_write_metrics(tiny_runs, tiny_lake):
    runs, records = tiny_runs
    lake, _ = tiny_lake
    test_rows = read_table(lake / "interactions_test", columns=["label"]).num_rows
    for r in records.values():
        saved = json.loads(Path(runs, r["run"], "metrics.json").read_text())
        assert saved["workers"] == 2 and saved["examples"] == test_rows
        assert (
            0 < saved["auc"] < 1
            and saved["logloss"] > 0
            and saved["parameters"] > 0
            and saved["train_samples_per_s"] > 0
        )
        assert (Path(runs, r["run"], "model.safetensors")).exists() and json.loads(
            Path(runs, r["run"], "history.json").read_text()
        )
    experiments = read_table(lake / "experiments").to_pandas()
    assert {"umair_fps", "dcn_v2"} <= set(experiments.model)


def test_distributed_auc_equals_single_process_auc_on_the_same_predictions(tiny_runs):
    runs, records = tiny_runs
    for r in records.values():
        preds = np.load(Path(runs, r["run"], "predictions.npz"))
        assert r["auc"] == pytest.approx(roc_auc_score(preds["label"], preds["prob"]), abs=1e-12)
        labels = preds["label"].astype(np.int64)  # float32 inputs make sklearn compute in float32
        probs = preds["prob"].astype(np.float64)
        assert r["logloss"] == pytest.approx(log_loss(labels, np.clip(probs, 1e-7, 1 - 1e-7)), rel=1e-9)


def test_an_injected_worker_failure_is_survived_and_a_rerun_starts_fresh(tiny_features, tiny_lake, tmp_path):
    lake, _ = tiny_lake
    marker = tmp_path / "failed-once"
    cfg = TrainConfig(
        model="dcn_v2",
        overrides=SMALL_MODEL,
        batch_size=128,
        num_workers=1,
        checkpoint_every=5,
        max_failures=2,
        inject_failure_marker=str(marker),
    )
    record = run(str(lake), str(tmp_path / "runs"), cfg)
    assert marker.exists(), "the failure was never injected"
    assert 0 < record["auc"] < 1 and record["train_samples"] > 0
    # Started again, the finished run trains from scratch (Ray Train would resume from its last checkpoint).
    again = run(str(lake), str(tmp_path / "runs"), cfg)
    train_rows = read_table(lake / "interactions_train", columns=["label"]).num_rows
    assert again["train_samples"] == train_rows


def test_a_plain_categorical_ctr_table_trains_from_its_yaml_given_relative_paths(ray_local, tmp_path, monkeypatch):
    """As a user types it at a shell: paths relative to the current folder, which Ray's workers do not share."""
    rng = np.random.default_rng(0)
    n = 3000
    c1, c2, c3 = rng.integers(1, 20, n), rng.integers(1, 8, n), rng.integers(1, 50, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.3 * (c1 % 5) - 0.8 * (c2 == 3) + 0.02 * c3 - 1.0)))).astype(np.int32)
    for split, rows in (("train", slice(0, 2000)), ("test", slice(2000, n))):
        write_deltalake(
            str(tmp_path / f"ctr_{split}"),
            pa.table({"C1": c1[rows], "C2": c2[rows], "C3": c3[rows], "clicked": y[rows]}),
        )
    (tmp_path / "ctr.yaml").write_text(
        "tables: {train: ctr_train, test: ctr_test}\nlabel: clicked\nfeatures:\n"
        "  - {name: C1, kind: categorical, vocab_size: 20}\n  - {name: C2, kind: categorical, vocab_size: 8}\n"
        "  - {name: C3, kind: categorical, vocab_size: 50}\n"
    )
    monkeypatch.chdir(tmp_path)
    dataset = DatasetConfig.from_yaml("ctr.yaml")
    record = run(".", "runs", TrainConfig(model="dcn_v2", overrides=SMALL_MODEL, batch_size=128), dataset)
    assert record["examples"] == 1000 and 0.5 < record["auc"] < 1
    assert (
        "dcn_v2" in (tmp_path / "runs" / "dcn_v2" / "progress.log").read_text()
    )  # the worker's progress lines arrived
    assert read_table(tmp_path / "experiments").num_rows == 1
