"""Ray Train wiring every training job of ours shares: the TorchTrainer with its scaling, run,
checkpoint and failure configs, the run folder that holds its checkpoints (resumed only for an
unfinished run of the same config), and the final checkpoint of a finished run."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ray_apps.artifacts import read_json, write_json
from ray_apps.console import ProgressEcho, log
from ray_apps.runtime import torch_threads, worker_resources
from umair_models import storage


@contextmanager
def train_run_storage(storage_path: str | Path, name: str, config: dict[str, Any]) -> Iterator[bool]:
    """Keep a Ray Train run's checkpoints only when they belong to an unfinished run of `config`.

    Ray Train (V2) resumes a run from the checkpoints under STORAGE/NAME whenever a run of that name
    starts again. That is what a re-run after a crash wants, but a run that finished, or one started
    with another config (a --force re-run, a changed budget), must start from scratch instead: its
    folder is cleared. Yields whether the run resumes; marks the run finished when the body returns.
    """
    root = storage.join(storage_path, name)
    record = storage.join(root, "umair_run.json")
    wanted = json.loads(json.dumps(config, default=str))
    saved = read_json(record) if storage.exists(record) else None
    resumes = bool(saved and not saved["finished"] and saved["config"] == wanted)
    if resumes:
        log.info("%s: resuming the unfinished run from its last checkpoint in %s", name, root)
    else:
        storage.delete_dir(root)
    write_json(record, {"config": wanted, "finished": False})
    yield resumes
    write_json(record, {"config": wanted, "finished": True})


@dataclass
class TrainerSpec:
    """What every Ray Train run of ours sets: its name and storage, workers, failures survived, checkpoints kept."""

    name: str
    storage: str | Path  # RunConfig.storage_path (a local path or a URI): checkpoints go to STORAGE/NAME
    num_workers: int = 1
    use_gpu: bool = False
    max_failures: int = 1
    keep_checkpoints: int = 2
    concurrent_runs: int = 1  # runs sharing the cluster at once (their CPUs and threads are divided)
    ordered: bool = False  # feed the workers' shards in a fixed block order (repeatable runs for one seed)
    extra_resources: dict[str, float] = field(default_factory=dict)  # custom resources per worker (node pinning)
    placement: str = "PACK"  # Ray placement strategy of the workers' bundles (STRICT_SPREAD: one node each)

    def resources_per_worker(self) -> dict[str, float] | None:
        """What each worker asks Ray for: `worker_resources`' CPU share (None = Ray's default of one CPU,
        and one GPU with use_gpu) plus the custom `extra_resources`."""
        base = worker_resources(self.num_workers, self.use_gpu, self.concurrent_runs)
        if not self.extra_resources:
            return base
        return {**(base or {"CPU": 1.0, **({"GPU": 1.0} if self.use_gpu else {})}), **self.extra_resources}


# Ray Train's controller polls its workers every RAY_TRAIN_HEALTH_CHECK_INTERVAL_S (Ray's default 2 s), and
# a run's start and end wait on several polls: a 2-epoch DCN-V2 run on the tiny lake took 21 s at 2 s and
# 14 s at 0.5 s, at the same samples/s (2-core machine, 2026-12-05; bench/train_poll.py). Our default where
# the environment sets none; Ray Train hands it from the driver to the controller, on any cluster.
CONTROLLER_POLL_S = "0.5"


def _ingest_options(ordered: bool) -> Any:
    """Ray Train's default ingest options, with the block order preserved when `ordered`."""
    import ray.train

    options = ray.train.DataConfig.default_ingest_options()
    options.preserve_order = ordered
    return options


def fit_trainer(
    train_loop: Any,
    loop_config: dict[str, Any],
    spec: TrainerSpec,
    datasets: dict[str, Any],
    record: dict[str, Any],
    progress: Path,
    split: Literal["all"] | list[str] = "all",
) -> Any:
    """Run a TorchTrainer the way every job here does; -> its Result.

    The loop gets `loop_config` plus `torch_threads` and `progress` (the file its rank 0 appends
    progress lines to, echoed here). `record`: the config that decides whether old checkpoints are
    resumed (`train_run_storage`). `split`: which datasets are sharded across the workers.
    """
    import ray.train
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    progress = Path(
        progress
    ).resolve()  # the workers run in another folder (another node on a cluster): no relative paths
    threads = torch_threads(spec.num_workers, spec.use_gpu, spec.concurrent_runs)
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", CONTROLLER_POLL_S)
    trainer = TorchTrainer(
        train_loop,
        train_loop_config={**loop_config, "torch_threads": threads, "progress": str(progress)},
        scaling_config=ScalingConfig(
            num_workers=spec.num_workers,
            use_gpu=spec.use_gpu,
            resources_per_worker=spec.resources_per_worker(),
            placement_strategy=spec.placement,
        ),
        run_config=RunConfig(
            name=spec.name,
            storage_path=storage.absolute(spec.storage),
            failure_config=FailureConfig(max_failures=spec.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=spec.keep_checkpoints),
        ),
        datasets=datasets,
        # An ordered run's shards must not depend on where its workers landed (Ray's default hands blocks to
        # the worker on their node): the same seed then trains the same model on one node or many.
        dataset_config=ray.train.DataConfig(
            datasets_to_split=split,
            execution_options=_ingest_options(spec.ordered),
            enable_shard_locality=not spec.ordered,
        ),
    )
    with train_run_storage(spec.storage, spec.name, record), ProgressEcho(progress):
        return trainer.fit()


def final_checkpoint(result: Any) -> Any:
    """The last checkpoint of a finished Ray Train run (a clear error if it wrote none)."""
    if result.checkpoint is None:
        raise RuntimeError(
            f"the Ray Train run in {result.path} finished without a checkpoint: {result.error or 'no error reported'}"
        )
    return result.checkpoint
