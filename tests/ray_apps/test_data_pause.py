"""data_pause: every app's Ray Data pipelines carry a pause in the scheduling loop, and still deliver
every row. The CPU the pause saves (a lagging consumer's SplitCoordinator: 1.00 of a core without
it, 0.13 with it, idle machine) is a measurement: bench/data_pause.py, not a test, since on a busy
machine both figures move."""

from __future__ import annotations

import time

from ray_apps import data_pause
from ray_apps.runtime import init_ray


def test_install_adds_the_pause_once():
    class Context:
        custom_execution_callback_classes: list = []

    context = Context()
    data_pause.install(context)
    data_pause.install(context)
    assert context.custom_execution_callback_classes == [data_pause.PauseWhenIdle]


def test_each_loop_step_waits_at_least_the_pause():
    start = time.monotonic()
    for _ in range(20):
        data_pause.PauseWhenIdle().on_execution_step(None)
    assert time.monotonic() - start >= 20 * data_pause.IDLE_PAUSE_S


def test_a_paused_streaming_split_delivers_every_row_to_a_lagging_consumer(ray_local):
    init_ray()  # what every app calls first
    context = ray_local.data.DataContext.get_current()
    assert data_pause.PauseWhenIdle in context.custom_execution_callback_classes
    limits = context.execution_options.resource_limits
    # a small object-store budget (blocks of 40 KB): backpressure after a few blocks, as at scale
    context.execution_options.resource_limits = ray_local.data.ExecutionResources(object_store_memory=512 * 1024)
    try:
        (shard,) = ray_local.data.range(200_000, override_num_blocks=40).map_batches(lambda b: b).streaming_split(1)
        seen = []
        for batch in shard.iter_batches(batch_size=5_000):
            time.sleep(0.02)  # the consumer lags behind the reads
            seen += list(batch["id"])
    finally:
        context.execution_options.resource_limits = limits
    assert sorted(int(i) for i in seen) == list(range(200_000))
