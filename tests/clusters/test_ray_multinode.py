"""The Ray apps on a two-node Ray cluster (one machine, two `ray start` process trees, only the
filesystem shared), submitted with `ray job submit` as a platform team does: each stage's work is
spread over both nodes, and its results are compared with the single-node runs of the same seed. Then
a fault: the second node stopped under a serving endpoint. (In test_object_storage.py: embed's encoder
actor pinned to the second node with a custom resource, and a training worker killed on the second node,
whose runs checkpoint to the bucket.)"""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.clusters.processes import ActorsStarted, find
from tests.clusters.ray_cluster import rank, succeeded
from tests.conftest import SMALL_MODEL

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

# The single-node DCN-V2 run of tests/conftest.py::tiny_runs (splits held in memory), as compare's flags:
# same budget and seed.
DCN_V2_FLAGS = ["--set", f"dnn_hidden={SMALL_MODEL['dnn_hidden']}", "--batch-size", "256"]
DCN_V2_FLAGS += ["--num-workers", "2", "--epochs", "2"]


@pytest.fixture(scope="module")
def lake(tiny_lake, tiny_features, tmp_path_factory) -> Path:
    """A copy of the tiny lake with its item features (the cluster's jobs write runs and tables into it)."""
    copy = tmp_path_factory.mktemp("cluster") / "lake"
    shutil.copytree(tiny_lake[0], copy)
    return copy


def test_ddp_training_streamed_across_both_nodes_learns_as_much_as_the_single_node_run(cluster, lake, tiny_runs):
    runs = lake.parent / "runs"
    _, single = tiny_runs
    flags = ["--set", f"dnn_hidden={SMALL_MODEL['dnn_hidden']}", "--batch-size", "256", "--num-workers", "2"]
    with ActorsStarted(cluster, "RayTrainWorker") as started:
        out = succeeded(
            cluster.submit(
                [
                    "-m",
                    "ray_apps.ranker.job",
                    "--lake",
                    str(lake),
                    "--runs",
                    str(runs),
                    "--model",
                    "umair_fps",
                    *flags,
                    "--epochs",
                    "2",
                    "--placement",
                    "STRICT_SPREAD",
                ]
            )
        )
    assert started.on == {"head": 1, "node2": 1}, started.on
    record = json.loads((runs / "umair_fps" / "metrics.json").read_text())
    reference = single["umair_fps"]
    assert record["worker_nodes"] == 2 and reference["worker_nodes"] == 1
    # Every training row once per epoch across the two nodes' shards; every test row scored once.
    assert record["train_samples"] == reference["train_samples"] and record["examples"] == reference["examples"]
    # Which blocks reach which worker, and when, differs from run to run when streaming, and on the tiny lake
    # the model barely learns in two epochs (AUC ~0.53), so the order moves the AUC. Measured (2026-12-03, this 2-core machine):
    # six single-node runs of one lake 0.521-0.534; two-node runs 0.537, 0.540, 0.549 beside a single-node
    # 0.536, and 0.569 beside 0.531 on a loaded CI machine. A two-node run that learned less than the
    # single-node one (a shard lost, a node training without the item vectors) lands below; one that lands
    # above is the order's luck, not a fault.
    assert record["auc"] > reference["auc"] - 0.03, (record["auc"], reference["auc"])
    assert "test AUC" in out


def test_compare_holds_the_splits_in_memory_on_both_nodes_and_gives_the_single_node_result(cluster, lake, tiny_runs):
    """`compare --cache-splits`: the splits read once into Ray's object store, DCN-V2 trained with one
    worker per node, each holding its shard of the cached split: the single-node run's result."""
    runs = lake.parent / "compare_runs"
    args = ["-m", "ray_apps.ranker.compare", "--lake", str(lake), "--out", str(runs), "--models", "dcn_v2"]
    args += ["--variants", "none", "--controls", "none", "--cache-splits", "--placement", "STRICT_SPREAD"]
    with ActorsStarted(cluster, "RayTrainWorker") as started:
        out = succeeded(cluster.submit([*args, *DCN_V2_FLAGS]))
    assert started.on == {"head": 1, "node2": 1}, started.on  # one worker per node
    assert "cached in the object store" in out
    record = json.loads((runs / "dcn_v2" / "metrics.json").read_text())
    reference = tiny_runs[1]["dcn_v2"]
    assert record["worker_nodes"] == 2 and record["config"]["in_memory"] is True
    assert record["train_samples"] == reference["train_samples"]
    assert record["auc"] == pytest.approx(reference["auc"], abs=0.002)
    assert record["logloss"] == pytest.approx(reference["logloss"], abs=0.002)


def test_serve_replica_on_the_second_node_answers_and_losing_that_node_never_hangs(cluster, lake, tmp_path):
    run = str(lake.parent / "compare_runs" / "dcn_v2")  # the two-node run of the test above
    placement = ["--replicas", "2", "--replicas-per-node", "1", "--proxy-location", "HeadOnly"]
    url = cluster.deploy_serve(["--run", run, "--lake", str(lake), *placement], tmp_path / "serve.yaml")
    replicas = {node: find(cluster.pid(node), "ServeReplica") for node in ("head", "node2")}
    assert all(len(pids) == 1 for pids in replicas.values()), replicas
    answers = [rank(url) for _ in range(20)]
    assert all(a.status_code == 200 for a in answers)
    assert len({json.dumps(a.json()["results"]) for a in answers}) == 1  # both replicas: the same run, same scores

    statuses: list[int | str] = []
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            try:
                statuses.append(rank(url).status_code)
            except requests.RequestException as e:  # a timeout here is a hang
                statuses.append(type(e).__name__)
            time.sleep(0.05)

    sender = threading.Thread(target=traffic, daemon=True)
    sender.start()
    time.sleep(2)
    before = len(statuses)
    cluster.kill_node("node2")
    time.sleep(20)
    stop.set()
    sender.join(timeout=60)
    after = statuses[before:]
    assert after and all(s in (200, 503) for s in after), sorted({str(s) for s in after})
    assert after[-1] == 200 and after.count(200) > len(after) // 2  # the head's replica kept serving
    counts = {str(k): after.count(k) for k in set(after)}
    print(f"[cluster] second node killed under traffic: answers in the next 20 s {counts}")
