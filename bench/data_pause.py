"""CPU used by Ray Data's SplitCoordinator while its consumer lags, with and without data_pause.

    python bench/data_pause.py [--window 3] [--out bench/results/data_pause.json]

A one-way streaming split whose consumer takes one batch and then waits: the executor has nothing to
wait on, and without the pause its loop spins. Reports CPU seconds per second of the coordinator
process (from /proc) for Ray Data as it is (the control) and after `init_ray` installed the pause.
Target: the paused coordinator under 0.25 of a core; the control shows whether Ray still spins.
CPU time is a measurement, so it lives here, not in a test: on a busy machine both figures move.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _results import save_result  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def coordinators() -> set[int]:
    """pids of this Ray instance's live SplitCoordinator actors, from its actor table (not the
    machine's process titles, which show every Ray on the machine)."""
    from ray._private.state import actors

    return {
        int(a["Pid"]) for a in actors().values() if a["ActorClassName"] == "SplitCoordinator" and a["State"] == "ALIVE"
    }


def idle_coordinator_cpu(window: float) -> float:
    import ray

    before = coordinators()
    shard = ray.data.range(4_000_000, override_num_blocks=100).map_batches(lambda b: b).streaming_split(1)[0]
    batches = iter(shard.iter_batches(batch_size=1_000))
    next(batches)
    time.sleep(1.0)  # the buffer fills up to its budget; the reads left wait for the consumer
    (pid,) = coordinators() - before
    start = cpu_seconds(pid)
    time.sleep(window)
    used = cpu_seconds(pid) - start
    for _ in batches:  # drain, so the coordinator finishes
        pass
    return used / window


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--window", type=float, default=3.0)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "data_pause.json"))
    a = parser.parse_args()
    import ray

    from ray_apps.runtime import init_ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    # a small object-store budget (blocks of 320 KB): backpressure after a few blocks, as at scale
    context.execution_options.resource_limits = ray.data.ExecutionResources(object_store_memory=4 * 1024**2)
    spinning = idle_coordinator_cpu(a.window)
    init_ray()  # what every app calls first: installs the pause
    paused = idle_coordinator_cpu(a.window)
    save_result({"cores_without_pause": round(spinning, 3), "cores_with_pause": round(paused, 3)}, a.out)


if __name__ == "__main__":
    main()
