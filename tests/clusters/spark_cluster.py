"""A Spark standalone cluster on one machine, started from the pip-installed pyspark as a data team's
would be from a Spark distribution: a Master and N Workers (`spark-class ...deploy.master.Master` /
`...deploy.worker.Worker`, loopback, free ports), each its own JVM process tree."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from tests.clusters.ray_cluster import BIN, REPO, free_port

# The JVMs of a test job live for a minute: the client compiler only (C1) spends less CPU compiling than
# it would gain from C2's faster code. build_datasets on the tiny site, one two-core Worker, this 2-core
# machine (2026-12-07, idle): 69 s and 95 CPU-seconds against 80 s and 149 CPU-seconds with the JVM's
# default tiered compilation. A long-lived JVM is another matter (the test session's local Spark ran
# tests/spark_jobs in 402 s with C1 against 323 s, the same day), so only the cluster's JVMs get it.
SHORT_LIVED_JVM = "-XX:TieredStopAtLevel=1"


class SparkStandalone:
    """spark = SparkStandalone(workers=1, cores=2); spark.master_url; spark.submit("build_datasets", [...]); spark.stop()"""

    def __init__(self, workers: int = 2, cores: int = 1, memory: str = "2g", env: dict[str, str] | None = None) -> None:
        """`env`: more environment for the Master, the Workers (so their executors) and submitted drivers,
        e.g. object-storage credentials, as a platform team sets them on the nodes."""
        self.temp = Path(tempfile.mkdtemp(prefix="spark-standalone-"))
        import pyspark

        self.env = {
            **os.environ,
            "SPARK_HOME": str(Path(pyspark.__file__).parent),  # the pip install is the distribution
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "SPARK_LOG_DIR": str(self.temp),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_DAEMON_JAVA_OPTS": SHORT_LIVED_JVM,  # the Master and the Workers
            **(env or {}),
        }
        self.processes: dict[str, subprocess.Popen] = {}
        port, ui = free_port(), free_port()
        self._start(
            "master",
            ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1"]
            + ["--port", str(port), "--webui-port", str(ui)],
        )
        self.master_url, self.ui = f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui}"
        for i in range(workers):
            work = self.temp / f"worker{i}"
            work.mkdir()
            self._start(
                f"worker{i}",
                ["org.apache.spark.deploy.worker.Worker", self.master_url, "--host", "127.0.0.1"]
                + ["--cores", str(cores), "--memory", memory, "--work-dir", str(work)]
                + ["--port", str(free_port()), "--webui-port", str(free_port())],
            )
        self._wait_for_workers(workers)

    def _start(self, name: str, args: list[str]) -> None:
        log = open(self.temp / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        self.processes[name] = subprocess.Popen(
            [str(BIN / "spark-class"), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=self.env,
        )

    def _wait_for_workers(self, count: int, timeout_s: float = 120) -> None:
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            try:
                state = requests.get(f"{self.ui}/json/", timeout=2).json()
                if sum(w.get("state") == "ALIVE" for w in state.get("workers", [])) == count:
                    return
            except (requests.RequestException, ValueError):
                pass
            time.sleep(1)
        logs = {p.name: p.read_text()[-1500:] for p in self.temp.glob("*.log")}
        self.stop()
        raise RuntimeError(f"the standalone cluster did not get {count} workers: {logs}")

    def worker_pids(self) -> list[int]:
        return [p.pid for name, p in self.processes.items() if name.startswith("worker")]

    def submit(self, job: str, args: list[str], timeout_s: float = 900) -> subprocess.Popen:
        """deploy/spark/submit.sh JOB ARGS with SPARK_MASTER = this cluster; started, not awaited."""
        # tiny test data: 4 shuffle partitions, as the local test session uses (Spark's 200 cost minutes
        # of task overhead on two 1-core executors; a data team sizes this to its data the same way);
        # short-lived driver and executor JVMs (defaultJavaOptions: the jobs add their own extra options)
        conf = ["spark.sql.shuffle.partitions=4"]
        conf += [f"spark.{role}.defaultJavaOptions={SHORT_LIVED_JVM}" for role in ("driver", "executor")]
        env = {**self.env, "SPARK_MASTER": self.master_url, "SPARK_CONF": " ".join(f"--conf {c}" for c in conf)}
        return subprocess.Popen(
            ["bash", str(REPO / "deploy/spark/submit.sh"), job, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=REPO,
        )

    def stop(self) -> None:
        for proc in self.processes.values():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=60)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)
        self.processes.clear()
        shutil.rmtree(self.temp, ignore_errors=True)
