"""data_pause: a streaming split whose consumer lags must not keep a core busy in Ray Data's loop."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ray_apps import data_pause
from ray_apps.runtime import init_ray

WINDOW_S = 3.0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _coordinators() -> set[int]:
    """pids of the live processes titled ray::SplitCoordinator (Ray names an actor's process after it)."""
    pids = set()
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes().startswith(b"ray::SplitCoordinator"):
                pids.add(int(proc.name))
        except OSError:  # the process ended while we looked
            continue
    return pids


def _idle_coordinator_cpu(ray) -> float:
    """CPU seconds per second of the SplitCoordinator of a one-way streaming split whose consumer has
    taken one batch and then waits (the executor has no task left to wait on)."""
    before = _coordinators()
    shard = ray.data.range(4_000_000, override_num_blocks=100).map_batches(lambda b: b).streaming_split(1)[0]
    batches = iter(shard.iter_batches(batch_size=1_000))
    next(batches)
    time.sleep(1.0)  # the buffer fills up to its budget; the reads left wait for the consumer
    (pid,) = _coordinators() - before
    start = _cpu_seconds(pid)
    time.sleep(WINDOW_S)
    used = _cpu_seconds(pid) - start
    for _ in batches:  # drain, so the coordinator finishes
        pass
    return used / WINDOW_S


def test_a_lagging_consumer_leaves_the_split_coordinator_idle(ray_local):
    context = ray_local.data.DataContext.get_current()
    limits = context.execution_options.resource_limits
    # a small object-store budget (blocks of 320 KB): backpressure after a few blocks, as at scale
    context.execution_options.resource_limits = ray_local.data.ExecutionResources(object_store_memory=4 * 1024**2)
    if data_pause.PauseWhenIdle in context.custom_execution_callback_classes:  # an earlier test's app put it there
        context.custom_execution_callback_classes.remove(data_pause.PauseWhenIdle)
    spinning = _idle_coordinator_cpu(ray_local)  # Ray Data as it is: the control
    init_ray()  # what every app calls first: installs the pause
    assert data_pause.PauseWhenIdle in context.custom_execution_callback_classes
    paused = _idle_coordinator_cpu(ray_local)
    context.execution_options.resource_limits = limits
    # The control shows the loop spinning on this Ray (if it stops, Ray fixed it and the pause can go)
    assert spinning > 0.5, f"without the pause the coordinator used {spinning:.2f} of a core"
    assert paused < 0.25, f"with the pause the coordinator still used {paused:.2f} of a core (was {spinning:.2f})"
