"""Shared plumbing of the Ray applications: Ray start-up, Delta reads, vector blobs, run folders."""
from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

log = logging.getLogger("umair")


def init_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Connect to `address` (or RAY_ADDRESS, e.g. under `ray job submit`), else start a local Ray."""
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=True)
    from ray.data import DataContext

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = True


def add_cluster_args(parser, workers: bool = True) -> None:
    """The flags every Ray app shares: --num-workers (trainers), --use-gpu, --address."""
    if workers:
        parser.add_argument("--num-workers", type=int, default=1, help="Ray Train workers (DDP)")
    parser.add_argument("--use-gpu", action="store_true", help="one GPU per worker / actor")
    parser.add_argument("--address", default=None, help="Ray address (default: RAY_ADDRESS, else a local Ray)")


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")


def read_table(path: str | Path, columns: list[str] | None = None) -> pa.Table:
    """A Delta table's current version as Arrow (small tables: vocab, items, item_features)."""
    from deltalake import DeltaTable

    return DeltaTable(str(path)).to_pyarrow_table(columns=columns)


def table_rows(path: str | Path) -> int | None:
    """A Delta table's row count from its log's file statistics (no data read); None without them."""
    from deltalake import DeltaTable

    records = pa.table(DeltaTable(str(path)).get_add_actions(flatten=True)).column("num_records")
    return None if records.null_count else int(pc.sum(records).as_py() or 0)


def vocab_sizes(lake: str | Path) -> dict[str, int]:
    """feature -> number of values V in the lake's vocab (indices 1..V)."""
    vocab = read_table(Path(lake, "vocab"), ["feature", "index"]).to_pandas()
    return {k: int(v) for k, v in vocab.groupby("feature")["index"].max().items()}


def to_blob(vectors: np.ndarray) -> list[bytes]:
    """[N, D] -> N little-endian float16 blobs (Delta has no half-precision type)."""
    v = np.ascontiguousarray(vectors, dtype="<f2")
    return [row.tobytes() for row in v]


def from_blobs(blobs: list[bytes | None], dim: int) -> np.ndarray:
    """N float16 blobs (None = missing) -> [N, dim] float16."""
    out = np.zeros((len(blobs), dim), np.float16)
    for i, b in enumerate(blobs):
        if b:
            out[i] = np.frombuffer(b, dtype="<f2")
    return out


def new_run_dir(root: str | Path, name: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = Path(root, f"{name}-{stamp}")
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def train_run_storage(storage_path: str | Path, name: str, config: dict) -> Iterator[bool]:
    """Keep a Ray Train run's checkpoints only when they belong to an unfinished run of `config`.

    Ray Train (V2) resumes a run from the checkpoints under STORAGE/NAME whenever a run of that name
    starts again. That is what a re-run after a crash wants, but a run that finished, or one started
    with another config (a --force re-run, a changed budget), must start from scratch instead: its
    folder is cleared. Yields whether the run resumes; marks the run finished when the body returns.
    """
    root = Path(storage_path, name)
    record = root / "umair_run.json"
    wanted = json.loads(json.dumps(config, default=str))
    saved = json.loads(record.read_text()) if record.exists() else None
    resumes = bool(saved and not saved["finished"] and saved["config"] == wanted)
    if resumes:
        log.info("%s: resuming the unfinished run from its last checkpoint in %s", name, root)
    elif root.exists():
        shutil.rmtree(root)
    write_json(record, {"config": wanted, "finished": False})
    yield resumes
    write_json(record, {"config": wanted, "finished": True})


def write_json(path: str | Path, data: Any) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2, default=str))


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
