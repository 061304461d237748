"""How every Ray app starts: the console and log files, Ray itself, CPU shares, run storage, progress.

The console is for people: each app prints its own progress lines (stage, run, epoch, metric)
and where its outputs went. Library log records (Ray, Ray Data, Ray Train, py4j, ...) go to
LOG_DIR/umair.log (`setup_console` says where); Ray's worker processes log to Ray's own session
folder instead of forwarding every line to the driver. Training workers report progress by
appending to a file the driver echoes (`ProgressEcho`), which also works on a multi-node cluster
whose run folder is shared storage.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ray_apps import storage
from ray_apps.artifacts import read_json, write_json

log = logging.getLogger("umair")
LOG_DIR_ENV = "UMAIR_LOG_DIR"
_LIBRARY_LOGGERS = (
    "ray",
    "ray.data",
    "ray.train",
    "ray.serve",
    "ray.tune",
    "py4j",
    "pyspark",
    "urllib3",
    "filelock",
    "fsspec",
)
# Library warnings that tell a user of `umair` nothing they can act on (the records stay in the log file).
_NOISE = (
    "Token authentication is enabled for this Ray cluster",  # Ray 2.60's default for a local instance
    "Progress bars disabled",  # we turned them off on purpose: the apps print their own progress
)


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in _NOISE)


def log_dir() -> Path:
    """Where library logs go: $UMAIR_LOG_DIR, else .umair/logs under the current folder."""
    return Path(os.environ.get(LOG_DIR_ENV) or Path(".umair", "logs")).resolve()


def setup_console(directory: str | Path | None = None, announce: bool = True) -> Path:
    """Our own `umair` log lines on the console; every library's records in DIRECTORY/umair.log.

    Idempotent. Library loggers that install their own console handlers (Ray's, Ray Data's) keep
    them for warnings and errors only; their INFO chatter goes to the file.
    """
    folder = Path(directory).resolve() if directory else log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[LOG_DIR_ENV] = str(folder)  # child processes (Spark's JVM, Ray's driver helpers) log there too
    # Hugging Face libraries print weight-loading bars and advisory warnings on their own handlers; Ray's
    # workers inherit these variables, so the encoder jobs stay quiet there too.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    path = folder / "umair.log"
    root = logging.getLogger()
    if not any(getattr(h, "baseFilename", None) == str(path) for h in root.handlers):
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        for name in _LIBRARY_LOGGERS:
            _quiet(logging.getLogger(name), handler)
    if not any(getattr(h, "umair_console", False) for h in log.handlers):
        console = logging.StreamHandler()
        console.setFormatter(logging.Formatter("[umair] %(message)s"))
        console.umair_console = True  # type: ignore[attr-defined]
        log.addHandler(console)
        log.setLevel(logging.INFO)
        log.propagate = True  # also in the file
        if announce:
            print(f"[umair] library logs: {path}", flush=True)
    return path


def _quiet(logger: logging.Logger, file_handler: logging.Handler) -> None:
    """A library logger: its console handlers show warnings and up (less known noise); everything goes to the file."""
    for h in logger.handlers:
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
            h.setLevel(logging.WARNING)
            if not any(isinstance(f, _DropNoise) for f in h.filters):
                h.addFilter(_DropNoise())
    if not logger.propagate and file_handler not in logger.handlers:
        logger.addHandler(file_handler)


def quiet_libraries() -> None:
    """Apply `_quiet` to the library loggers that exist now (Ray, Ray Data and Ray Serve install their
    console handlers when first imported, so the apps call this after importing them)."""
    file_handler = next((h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)), None)
    if file_handler is not None:
        for name in _LIBRARY_LOGGERS:
            _quiet(logging.getLogger(name), file_handler)


def init_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Connect to `address` (or RAY_ADDRESS, e.g. under `ray job submit`), else start a local Ray.

    Worker processes log to Ray's session folder (printed once); set UMAIR_RAY_LOG_TO_DRIVER=1 to
    see every worker's output on the console while debugging. Ray Data's progress bars are off:
    the apps print their own progress; its scheduling loop pauses between steps (`data_pause`).
    """
    import ray
    import ray.data

    from ray_apps import data_pause

    data_pause.install(ray.data.DataContext.get_current())  # Ray Data's loop must not spin while training lags
    if ray.is_initialized():
        return
    quiet_libraries()  # Ray and Ray Data set up their console loggers on import
    address = address or os.environ.get("RAY_ADDRESS")
    to_driver = os.environ.get("UMAIR_RAY_LOG_TO_DRIVER") == "1"
    if address:
        ray.init(address=address, log_to_driver=to_driver)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=to_driver)
    from ray.data import DataContext

    DataContext.get_current().enable_progress_bars = False
    quiet_libraries()
    node = getattr(ray._private.worker, "_global_node", None)  # noqa: SLF001 - the documented way to find the session
    if node is not None:
        log.info("Ray worker logs: %s", node.get_logs_dir_path())


def worker_resources(num_workers: int, use_gpu: bool, concurrent_runs: int = 1) -> dict[str, float] | None:
    """CPUs per training worker that leave one CPU for Ray Data's read / transform tasks.

    On a big cluster each worker gets a whole CPU (None = Ray's default); on a small CPU-only
    machine (e.g. 2 cores) the workers of all `concurrent_runs` runs share what is left, otherwise
    data tasks never get a CPU and the job deadlocks.
    """
    import ray

    total, workers = ray.cluster_resources().get("CPU", 1.0), num_workers * max(1, concurrent_runs)
    if use_gpu or total - workers >= 1:
        return None
    return {"CPU": max(0.1, round((total - 1) / workers, 2))}


def torch_threads(num_workers: int, use_gpu: bool, concurrent_runs: int = 1) -> int:
    """Intra-op threads for each CPU training worker: a node's CPUs shared by the workers of all
    `concurrent_runs` runs.

    Ray sets OMP_NUM_THREADS=1 in workers; on a CPU-only machine that leaves cores idle.
    """
    import ray

    if use_gpu:
        return 1
    total = int(ray.cluster_resources().get("CPU", 1))
    nodes = max(1, len([n for n in ray.nodes() if n.get("Alive")]))
    return max(1, total // nodes // max(1, num_workers * max(1, concurrent_runs)))


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


def progress_file(folder: str | Path, name: str) -> Path:
    """Where a run's progress lines go: FOLDER/NAME, or the log folder when FOLDER is on object storage
    (the driver tails the file, so it must be a file on disk)."""
    return Path(storage.absolute(folder), name) if not storage.is_remote(folder) else log_dir() / name


def progress_line(path: str | Path | None, line: str) -> None:
    """A training worker's progress line: appended to `path` (echoed by the driver's ProgressEcho)."""
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line.rstrip("\n") + "\n")


class ProgressEcho:
    """Driver side of `progress_line`: prints the lines workers append to a file, as they come.

    with ProgressEcho(run_dir / "progress.log"): trainer.fit()
    """

    def __init__(self, path: str | Path, interval_s: float = 1.0) -> None:
        self.path, self.interval_s = Path(path), interval_s
        self._stop = threading.Event()
        self._offset = 0
        self._thread = threading.Thread(target=self._loop, name=f"progress-{self.path.parent.name}", daemon=True)

    def __enter__(self) -> ProgressEcho:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._echo()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._echo()

    def _echo(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        if complete:
            print(complete.decode("utf-8", "replace"), end="", flush=True)
