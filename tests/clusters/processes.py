"""Which processes run under which node: the process tree from /proc (Linux), sampled while a job runs.

Each Ray node started by a test is a `ray start --block` process whose raylet and workers are its
descendants; Ray names each worker process after what it runs (`ray::RayTrainWorker...`,
`ray::ServeReplica:APP:DEPLOYMENT`), so the titles seen under a node say what that node ran.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # ray_cluster.py imports this module
    from tests.clusters.ray_cluster import RayCluster


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # the command may hold spaces and parentheses
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def descendants(pid: int) -> dict[int, str]:
    """{pid: command line} of every process below `pid`."""
    children, out, todo = _children_map(), {}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            try:
                out[child] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except OSError:
                continue
            todo.append(child)
    return out


def find(root: int, title: str) -> list[int]:
    """Processes below `root` whose command line contains `title`."""
    return [pid for pid, cmd in descendants(root).items() if title in cmd]


class TitleSampler:
    """Collects the command lines seen below each root process every `interval_s` while active.

    with TitleSampler({"head": head_pid, "node2": node_pid}) as seen: run_job()
    seen.on("node2", "RayTrainWorker")  -> True if such a process ran there
    seen.pids("node2")                   -> every process seen there
    """

    def __init__(self, roots: dict[str, int], interval_s: float = 0.3) -> None:
        self.roots, self.interval_s = roots, interval_s
        self.seen: dict[str, dict[int, str]] = {name: {} for name in roots}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> TitleSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            for name, root in self.roots.items():
                if os.path.exists(f"/proc/{root}"):
                    self.seen[name].update(descendants(root))
            if self._stop.wait(self.interval_s):
                return

    @property
    def titles(self) -> dict[str, set[str]]:
        return {name: set(seen.values()) for name, seen in self.seen.items()}

    def on(self, name: str, title: str) -> bool:
        return any(title in t for t in self.seen[name].values())

    def pids(self, name: str) -> set[int]:
        return set(self.seen[name])


class ActorsStarted:
    """with ActorsStarted(cluster, "RayTrainWorker") as started: run_job()
    started.on  -> {node name: actors of that class the job started there}, from Ray's record of every
    actor (tests/clusters/ray_cluster.py: RayCluster.actor_nodes), so actors too short-lived to sample count."""

    def __init__(self, cluster: RayCluster, class_name: str) -> None:
        self.cluster, self.class_name, self.on = cluster, class_name, {}

    def __enter__(self) -> ActorsStarted:
        self.before = self.cluster.actor_nodes(self.class_name)
        return self

    def __exit__(self, *exc: object) -> None:
        after = self.cluster.actor_nodes(self.class_name)
        self.on = {node: n - self.before.get(node, 0) for node, n in after.items() if n > self.before.get(node, 0)}
