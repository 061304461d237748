"""`ray job submit` of a tiny training job against a `ray start --head` cluster (the platform path)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def auth_env() -> dict[str, str]:
    """Ray 2.60's dashboard may require token auth: give the head and the client one token."""
    return {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}


@pytest.fixture
def head(auth_env):
    """A separate Ray head (its own ports and temp dir), stopped by killing its process group."""
    gcs, dash = _free_port(), _free_port()
    # Every port Ray would otherwise take from its defaults (52365 for the job agent, 10001, ...) is picked
    # free here: another Ray instance on the machine (the test session's own) already holds the defaults.
    agent_ports = [
        f"--dashboard-agent-listen-port={_free_port()}",
        f"--dashboard-agent-grpc-port={_free_port()}",
        f"--runtime-env-agent-port={_free_port()}",
        f"--metrics-export-port={_free_port()}",
        f"--ray-client-server-port={_free_port()}",
    ]
    temp = tempfile.mkdtemp(prefix="rh", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    proc = subprocess.Popen(
        [
            str(BIN / "ray"),
            "start",
            "--head",
            "--block",
            f"--port={gcs}",
            "--num-cpus=2",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dash}",
            "--include-dashboard=true",
            f"--temp-dir={temp}",
            "--disable-usage-stats",
            *agent_ports,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=auth_env,
    )
    address = f"http://127.0.0.1:{dash}"
    deadline = time.time() + 180
    import requests

    while time.time() < deadline:
        try:
            if requests.get(f"{address}/api/version", timeout=2).status_code < 500:  # any answer: up (401 = auth on)
                break
        except requests.RequestException:
            time.sleep(1)
    else:
        os.killpg(proc.pid, signal.SIGTERM)
        pytest.fail("ray head did not come up")
    yield address
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=60)
    shutil.rmtree(temp, ignore_errors=True)


def test_train_ranker_runs_under_ray_job_submit(head, auth_env, tiny_lake, tmp_path):
    lake, _ = tiny_lake
    runs = tmp_path / "runs"
    cmd = [
        str(BIN / "ray"),
        "job",
        "submit",
        "--address",
        head,
        "--",
        sys.executable,
        "-m",
        "ray_apps.ranker.job",
        "--lake",
        str(lake),
        "--runs",
        str(runs),
        "--model",
        "dcn_v2",
        "--batch-size",
        "256",
        "--set",
        "dnn_hidden=[32]",
        "--run-name",
        "submitted",
    ]
    for _ in range(30):  # the dashboard answers before its job agent is ready: Ray says "try again later"
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=600, cwd=Path(__file__).resolve().parents[1], env=auth_env
        )
        if "No available agent to submit job" not in done.stdout + done.stderr:
            break
        time.sleep(5)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    metrics = json.loads((runs / "submitted" / "metrics.json").read_text())
    assert 0 < metrics["auc"] < 1 and "test AUC" in done.stdout
