"""The Ray apps with the lake, the encoders, the runs and the checkpoints on object storage: a real
S3-protocol server on loopback (moto's), the shared two-node Ray cluster whose nodes get the credentials
and endpoint from their environment (as a platform team configures them), jobs through `ray job submit`
with s3:// locations only. embed reads items and their images from the bucket, on the node whose custom
resource its encoder actor asks for, and writes item_features there; train streams the splits from it,
checkpoints to it (Ray Train storage_path) and resumes from it after its worker on the second node is
killed, to the uninterrupted run's result; serve loads the run and the lake from it and answers over
HTTP."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import numpy as np
import pyarrow.compute as pc
import pytest
import requests
from deltalake import DeltaTable, write_deltalake

from ray_apps.lake import read_table
from tests.clusters.conftest import SECOND_NODE
from tests.clusters.processes import ActorsStarted
from tests.clusters.ray_cluster import CHECKPOINT_SNAPSHOT, checkpoint_registered, rank, succeeded
from tests.clusters.s3_server import S3Server
from tests.conftest import SMALL_MODEL

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

RUN = "dcn_v2_s3"


@pytest.fixture(scope="module")
def bucket(s3, tiny_site, tiny_lake, tiny_models, tiny_features, tmp_path_factory) -> dict[str, str]:
    """The tiny site's images, lake (without item_features: embed writes them) and encoders uploaded;
    the items' image_uri rewritten to the images' s3:// URIs. -> {"lake", "models", "runs"} URIs."""
    raw, _ = tiny_site
    lake = tmp_path_factory.mktemp("s3_upload") / "lake"
    shutil.copytree(tiny_lake[0], lake, ignore=shutil.ignore_patterns("item_features", "experiments"))
    images = s3.upload(raw / "images", "raw/images")
    items = read_table(lake / "items")
    uris = pc.replace_substring(items["image_uri"], str(raw / "images"), images)
    write_deltalake(
        str(lake / "items"),
        items.set_column(items.schema.get_field_index("image_uri"), "image_uri", uris),
        mode="overwrite",
    )
    return {"lake": s3.upload(lake, "lake"), "models": s3.upload(tiny_models[0], "models"), "runs": s3.uri("runs")}


def _vectors(table: DeltaTable) -> dict[str, np.ndarray]:
    frame = table.to_pandas().sort_values("item_idx")
    return {c: np.stack([np.frombuffer(b, "<f2") for b in frame[c]]) for c in ("e_sem", "e_sty", "e_tsem")}


def _remote_table(s3: S3Server, key: str) -> DeltaTable:
    options = {
        k: s3.env[k]
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ALLOW_HTTP")
    }
    return DeltaTable(s3.uri(key), storage_options=options)


def test_embed_reads_items_images_and_encoders_from_the_bucket_on_the_node_given_and_writes_item_features_there(
    s3, cluster, bucket, tiny_lake, tiny_features
):
    """embed's encoder actor asks for the second node's custom resource (`--actor-resources`), so it runs
    there and nowhere else, reading every image and both encoders from the bucket: the single-node
    embed's vectors, written to the bucket's lake."""
    args = ["-m", "ray_apps.encoders.embed", "--lake", bucket["lake"], "--models", bucket["models"]]
    with ActorsStarted(cluster, "ItemEncoder") as started:
        out = succeeded(cluster.submit([*args, "--actor-resources", f"{{{SECOND_NODE}: 1}}"]))
    assert set(started.on) == {SECOND_NODE}, started.on
    assert f"-> {bucket['lake']}/item_features" in out
    written = _remote_table(s3, "lake/item_features")
    local = DeltaTable(str(tiny_lake[0] / "item_features"))
    # Every image was read from the bucket: as many items with image vectors as the local run, equal vectors.
    assert int(written.to_pandas().ok.sum()) == tiny_features["ok"] > 0
    for name, values in _vectors(local).items():
        np.testing.assert_allclose(
            _vectors(written)[name].astype(np.float32), values.astype(np.float32), rtol=2e-3, atol=2e-3
        )


def test_training_checkpoints_to_the_bucket_and_resumes_from_it_after_its_worker_is_killed(s3, cluster, bucket):
    """The same run twice, the second with the second node's training worker SIGKILLed once, right after
    Ray Train registered its first checkpoint on the bucket (8 epochs of small batches: the tiny lake
    trains in a second or two otherwise). The resumed run ends where the uninterrupted one does. (The
    local-storage path of the same resume: tests/ray_apps/ranker/test_job.py, an injected failure.)"""
    args = ["-m", "ray_apps.ranker.job", "--lake", bucket["lake"], "--runs", bucket["runs"]]
    args += ["--model", "dcn_v2", "--set", f"dnn_hidden={SMALL_MODEL['dnn_hidden']}", "--num-workers", "2"]
    args += ["--in-memory", "--epochs", "8", "--batch-size", "64", "--max-failures", "1"]
    args += ["--placement", "STRICT_SPREAD"]  # one worker per node: the second node's is the one killed
    t = time.time()
    succeeded(cluster.submit([*args, "--run-name", f"{RUN}_whole"]))
    whole_s = time.time() - t
    snapshot = f"runs/ray_runs/{RUN}/{CHECKPOINT_SNAPSHOT}"
    with cluster.killing_train_worker(
        SECOND_NODE, lambda: checkpoint_registered(lambda: s3.read_text(snapshot))
    ) as killed:
        t = time.time()
        succeeded(cluster.submit([*args, "--run-name", RUN]))
        killed_s = time.time() - t
    assert killed, "no training worker was found to kill"
    record = json.loads(s3.read_text(f"runs/{RUN}/metrics.json"))
    whole = json.loads(s3.read_text(f"runs/{RUN}_whole/metrics.json"))
    assert record["resumed_from"] is not None, "the run did not resume from its checkpoint on the bucket"
    assert whole["resumed_from"] is None and record["worker_nodes"] == 2
    assert record["lake"] == bucket["lake"] and 0.5 < record["auc"] < 1
    assert abs(record["auc"] - whole["auc"]) < 0.002, (record["auc"], whole["auc"])
    assert {f"runs/{RUN}/{f}" for f in ("model.safetensors", "model.json", "predictions.npz")} <= set(
        s3.keys(f"runs/{RUN}")
    )
    assert any(k.endswith("/state.pt") for k in s3.keys(f"runs/ray_runs/{RUN}")), "no checkpoint on the bucket"
    print(
        f"[cluster] worker killed: resumed from {record['resumed_from']}, AUC {record['auc']:.5f} vs "
        f"{whole['auc']:.5f} uninterrupted; job {killed_s:.1f} s vs {whole_s:.1f} s uninterrupted"
    )


def test_serve_loads_the_run_and_the_lake_from_the_bucket(s3, cluster, bucket, tmp_path):
    # the serving export, built once offline and published beside the run for every replica
    export = [
        sys.executable,
        "-m",
        "ray_apps.serve.export",
        "--run",
        f"{bucket['runs']}/{RUN}",
        "--lake",
        bucket["lake"],
    ]
    out = succeeded(subprocess.run(export, capture_output=True, text=True, env=cluster.env, timeout=300))
    assert f"{bucket['runs']}/{RUN}/serving" in out
    published = json.loads(s3.read_text(f"runs/{RUN}/serving/export.json"))  # DCN-V2: neighbours from raw vectors
    assert published["neighbour_space"] == "raw" and published["ann"] == "IndexFlatIP" and published["item_side"] == {}
    assert f"runs/{RUN}/serving/neighbours.faiss" in s3.keys(f"runs/{RUN}/serving")
    url = cluster.deploy_serve(["--run", f"{bucket['runs']}/{RUN}", "--lake", bucket["lake"]], tmp_path / "serve.yaml")
    answer = rank(url)
    assert answer.status_code == 200, answer.text
    scores = [r["score"] for r in answer.json()["results"]]
    assert len(scores) == 3 and all(0 < s < 1 for s in scores)
    model = requests.get(f"{url}/v1/model", timeout=15).json()
    record = json.loads(s3.read_text(f"runs/{RUN}/metrics.json"))
    assert model["run"] == RUN and model["metrics"]["auc"] == record["auc"], model
