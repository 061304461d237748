"""`ray job submit` of a tiny training job against a `ray start --head` cluster (the platform path)."""

from __future__ import annotations

import json

import pytest

from tests.clusters.ray_cluster import RayCluster

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


@pytest.fixture
def head():
    cluster = RayCluster()
    cluster.start_head(num_cpus=2)
    yield cluster
    cluster.shutdown()


def test_train_ranker_runs_under_ray_job_submit(head, tiny_lake, tmp_path):
    lake, _ = tiny_lake
    runs = tmp_path / "runs"
    args = ["-m", "ray_apps.ranker.job", "--lake", str(lake), "--runs", str(runs), "--model", "dcn_v2"]
    done = head.submit([*args, "--batch-size", "256", "--set", "dnn_hidden=[32]", "--run-name", "submitted"])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    metrics = json.loads((runs / "submitted" / "metrics.json").read_text())
    assert 0 < metrics["auc"] < 1 and "test AUC" in done.stdout
