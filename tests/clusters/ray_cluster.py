"""A real multi-node Ray cluster on one machine: `ray start --head` plus `ray start --address` nodes,
each its own process tree with its own ports, CPUs and a custom resource (so placement can be forced),
token auth on; jobs go in through `ray job submit` as a platform team's would."""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.clusters.processes import find

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]


CHECKPOINT_SNAPSHOT = "checkpoint_manager_snapshot.json"  # Ray Train's record of a run's checkpoints (STORAGE/NAME/)


def checkpoint_registered(read_snapshot: Callable[[], str]) -> bool:
    """Whether Ray Train's controller has registered a checkpoint of the run (what a restart resumes
    from), given a reader of the run's CHECKPOINT_SNAPSHOT. A checkpoint folder appears earlier: it
    counts only once the controller has collected every worker's report for it, which it polls for."""
    try:
        snapshot = json.loads(read_snapshot())
    except (OSError, ValueError):
        return False
    return bool(snapshot.get("latest_checkpoint_result"))


def succeeded(done: subprocess.CompletedProcess) -> str:
    """A finished command's stdout, or a failure showing the end of its output."""
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return done.stdout


def rank(url: str) -> requests.Response:
    """POST /v1/rank for a user of the tiny site and three of its illustrations."""
    body = {"user_id": "1000001", "illust_ids": ["80000010", "80000020", "80000030"]}
    return requests.post(f"{url}/v1/rank", json=body, timeout=15)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_ports(worker_ports: int) -> list[str]:
    """Every port a node would otherwise take from Ray's defaults, picked free: another Ray instance on
    the machine (the test session's own, the other nodes) already holds the defaults. Worker ports:
    100 from `worker_ports`, below Linux's ephemeral range so no port picked here falls inside."""
    return [
        f"--node-manager-port={free_port()}",
        f"--object-manager-port={free_port()}",
        f"--dashboard-agent-listen-port={free_port()}",
        f"--dashboard-agent-grpc-port={free_port()}",
        f"--runtime-env-agent-port={free_port()}",
        f"--metrics-export-port={free_port()}",
        f"--min-worker-port={worker_ports}",
        f"--max-worker-port={worker_ports + 99}",
    ]


class RayCluster:
    """cluster = RayCluster(); cluster.start_head(resources={"head": 100}); cluster.add_node("node2", ...);
    cluster.submit([...]); cluster.kill_node("node2"); cluster.shutdown()"""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        """`env`: more environment for every node (and so every job), e.g. object-store credentials."""
        self.env = {**os.environ, **(env or {}), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
        self.env.pop("RAY_ADDRESS", None)
        self.temp = tempfile.mkdtemp(prefix="rc", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
        self.nodes: dict[str, subprocess.Popen] = {}
        self.gcs = ""
        self.dashboard = ""
        self._worker_ports = 20000 + random.randrange(0, 100) * 100  # each node then takes the next 100

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(Path(self.temp, f"{name}.log"), "w")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [str(BIN / "ray"), "start", "--block", "--disable-usage-stats", *args, *_node_ports(self._worker_ports)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=self.env,
            cwd=REPO,
        )
        self.nodes[name] = proc
        self._worker_ports += 100
        return proc

    def start_head(self, num_cpus: int = 2, resources: dict[str, float] | None = None) -> str:
        """The head node (GCS, dashboard, job agent); -> the dashboard address jobs are submitted to."""
        port, dash = free_port(), free_port()
        self._start(
            "head",
            [
                "--head",
                f"--port={port}",
                f"--num-cpus={num_cpus}",
                f"--resources={json.dumps(resources or {})}",
                "--dashboard-host=127.0.0.1",
                f"--dashboard-port={dash}",
                "--include-dashboard=true",
                f"--temp-dir={self.temp}",
                f"--ray-client-server-port={free_port()}",
                "--object-store-memory=1000000000",
            ],
        )
        self.gcs, self.dashboard = f"127.0.0.1:{port}", f"http://127.0.0.1:{dash}"
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                if requests.get(f"{self.dashboard}/api/version", timeout=2).status_code < 500:  # 401 = up, auth on
                    return self.dashboard
            except requests.RequestException:
                pass
            time.sleep(1)
        log = self.log_tail("head")
        self.shutdown()
        raise RuntimeError(f"the Ray head did not answer on {self.dashboard} within 180 s:\n{log}")

    def add_node(self, name: str, num_cpus: int = 2, resources: dict[str, float] | None = None) -> None:
        """A second (third, ...) node joining the head; returns once the cluster counts it."""
        self._start(
            name,
            [
                f"--address={self.gcs}",
                f"--num-cpus={num_cpus}",
                f"--resources={json.dumps(resources or {})}",
                "--object-store-memory=1000000000",
            ],
        )
        self.wait_for_nodes(len(self.nodes))

    def alive_nodes(self) -> int:
        """How many nodes this cluster's GCS counts alive (-1 when the query itself failed)."""
        code = "import ray; ray.init(); print(sum(n['Alive'] for n in ray.nodes()))"
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=120,
            env={**self.env, "RAY_ADDRESS": self.gcs},
        )
        return int(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else -1

    def wait_for_nodes(self, count: int, timeout_s: float = 300) -> None:
        """Until the GCS counts `count` alive nodes. A node whose `ray start` exits fails at once with its
        log; otherwise up to `timeout_s`: on an idle 2-core machine a node joins in 5-15 s, beside other
        Ray / Spark work it took over 120 s (the timeout's old value, which CI beside other work hit)."""
        deadline, seen = time.time() + timeout_s, -1
        while time.time() < deadline:
            for name, proc in self.nodes.items():
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"node {name}'s `ray start` exited with {proc.returncode}:\n{self.log_tail(name)}"
                    )
            seen = self.alive_nodes()
            if seen == count:
                return
            time.sleep(2)
        last = list(self.nodes)[-1]
        raise RuntimeError(
            f"the cluster did not reach {count} alive nodes in {timeout_s:.0f} s (last count {seen}; -1: the query "
            f"failed); node {last}'s log:\n{self.log_tail(last)}"
        )

    def log_tail(self, name: str, chars: int = 3000) -> str:
        """The end of a node's `ray start` output (Ray's own logs are under self.temp)."""
        return Path(self.temp, f"{name}.log").read_text(errors="replace")[-chars:] + f"\n(more in {self.temp})"

    def actor_nodes(self, class_contains: str) -> dict[str, int]:
        """{node name: how many actors whose class name contains `class_contains` ran there}, alive or
        finished, from Ray's own record of every actor (the GCS, through the state API): where a job's
        work ran, however briefly. A node's name is the custom resource it was started with."""
        code = f"""
import json, ray
from ray.util.state import list_actors
ray.init(logging_level="ERROR")
names = {{n["NodeID"]: [r for r in n["Resources"] if r in {list(self.nodes)!r}] for n in ray.nodes()}}
out = {{}}
for actor in list_actors(limit=10000, detail=True, raise_on_missing_output=False):
    if {class_contains!r} in actor.class_name:
        for name in names.get(actor.node_id) or ["?"]:
            out[name] = out.get(name, 0) + 1
print(json.dumps(out))
"""
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=120,
            env={**self.env, "RAY_ADDRESS": self.gcs},
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    def deploy_serve(self, serve_args: list[str], config: Path, timeout_s: float = 300) -> str:
        """`umair serve SERVE_ARGS --port P --write-config CONFIG`, then `serve deploy CONFIG` to this
        cluster, as a platform team deploys; -> the endpoint's URL once /v1/rank answers 200. Serve is
        shut down first, so an earlier test's deployment (its port, its proxy location) is gone."""
        port = free_port()
        write = [
            sys.executable,
            "-m",
            "ray_apps.serve.deploy",
            *serve_args,
            "--port",
            str(port),
            "--write-config",
            str(config),
        ]
        succeeded(subprocess.run(write, capture_output=True, text=True, cwd=REPO, timeout=300))
        shutdown = [str(BIN / "serve"), "shutdown", "--yes", "--address", self.dashboard]
        succeeded(subprocess.run(shutdown, capture_output=True, text=True, cwd=REPO, env=self.env, timeout=300))
        deploy = [str(BIN / "serve"), "deploy", str(config), "--address", self.dashboard]
        succeeded(subprocess.run(deploy, capture_output=True, text=True, cwd=REPO, env=self.env, timeout=300))
        url, deadline = f"http://127.0.0.1:{port}", time.time() + timeout_s
        while time.time() < deadline:
            try:
                if rank(url).status_code == 200:
                    return url
            except requests.RequestException:
                pass
            time.sleep(1)
        raise RuntimeError(f"the endpoint at {url} did not answer within {timeout_s} s (logs in {self.temp})")

    @contextmanager
    def killing_train_worker(self, node: str, ready: Callable[[], bool]) -> Iterator[list[int]]:
        """While the body runs, SIGKILL one Ray Train worker process of `node` once `ready()` says so
        (e.g. once the run has a registered checkpoint); yields the list of killed pids (empty or one)."""
        killed: list[int] = []
        stop = threading.Event()

        def kill_once() -> None:
            workers: list[int] = []
            while not stop.is_set() and not killed:
                workers = workers or find(self.pid(node), "RayTrainWorker")
                if workers and ready():
                    os.kill(workers[0], signal.SIGKILL)
                    killed.append(workers[0])
                time.sleep(0.1)  # polling the process table and the snapshot costs CPU the training needs

        killer = threading.Thread(target=kill_once, daemon=True)
        killer.start()
        try:
            yield killed
        finally:
            stop.set()
            killer.join()

    def pid(self, name: str) -> int:
        return self.nodes[name].pid

    def submit(self, args: list[str], timeout_s: float = 600) -> subprocess.CompletedProcess:
        """`ray job submit --address DASHBOARD -- python ARGS...`, waiting for the job; retried while the
        dashboard is up but its job agent is not yet."""
        cmd = [str(BIN / "ray"), "job", "submit", "--address", self.dashboard, "--", sys.executable, *args]
        for _ in range(30):
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, cwd=REPO, env=self.env)
            if "No available agent to submit job" not in done.stdout + done.stderr:
                return done
            time.sleep(5)
        return done

    def kill_node(self, name: str) -> None:
        """The node's whole process tree (raylet, workers) killed at once: a machine that died."""
        proc = self.nodes.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)

    def shutdown(self, grace_s: float = 5.0) -> None:
        """Every node's process group gets SIGTERM at once, `grace_s` to exit, then SIGKILL for whatever is
        left (the group, not just `ray start`): a graceful stop of a 2-node cluster took 33 s on a 2-core
        machine, node after node, and the cluster's state is thrown away with its temp folder anyway."""
        procs = [self.nodes.pop(name) for name in list(self.nodes)[::-1]]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.time() + grace_s
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.time()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
        shutil.rmtree(self.temp, ignore_errors=True)
