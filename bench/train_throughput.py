"""Ray Train pipeline vs a bare PyTorch loop: training samples/s on this machine (CPU).

    python bench/train_throughput.py --lake LAKE [--model umair_fps] [--batch-size 1024] [--rows N] [--bare-only]

Same model, batch size and examples (LAKE/interactions_train): (a) a bare loop over tensors held
in memory, in one process with all cores; (b) `train_ranker` with 1 and 2 workers, reading Delta
through Ray Data every epoch (streaming) and with each worker's shard held in memory after one
read (`--in-memory`, what `compare` does for small splits). Prints samples/s and the ratio
pipeline / bare (target >= 0.8); writes JSON.

Like the bare loop, whose arrays are built before its clock starts, the pipeline's headline figure
is steady state: from each worker's first batch to its last, with Delta reads and the ToArrays
transform streaming during the epoch. The one-off start-up until the first batch
(`first_batch_seconds`; in memory: the one read of the shard) and the end-to-end ratio that includes
it are reported beside it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import ray
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import save_result  # noqa: E402

from ray_apps.encoders.item_features import load_item_vectors  # noqa: E402
from ray_apps.lake import read_table  # noqa: E402
from ray_apps.ranker.config import TrainConfig  # noqa: E402
from ray_apps.ranker.data import DatasetConfig, ToArrays  # noqa: E402
from ray_apps.ranker.job import run  # noqa: E402
from umair_models.models import build_model  # noqa: E402


def bare_loop(lake: str, model_name: str, batch_size: int, overrides: dict, rows: int = 0) -> float:
    """Training samples/s of a plain PyTorch loop over the split's first `rows` examples (0: all) in memory."""
    dataset = DatasetConfig.for_lake(lake)
    table = read_table(dataset.tables["train"])
    df = (table.slice(0, rows) if rows else table).to_pandas()
    del table
    arrays = {k: torch.from_numpy(v) for k, v in ToArrays(dataset.spec, dataset.user_column)(df).items()}
    model = build_model(model_name, dataset.spec, overrides)
    if model.lookups and dataset.item_features:
        for name, (v, p) in load_item_vectors(dataset.item_features).items():
            model.load_pretrained(name, torch.from_numpy(v), torch.from_numpy(p))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    n = len(df)
    perm = torch.randperm(n)
    t = time.perf_counter()
    for start in range(0, n, batch_size):
        idx = perm[start : start + batch_size]
        batch = {k: v[idx] for k, v in arrays.items()}
        opt.zero_grad()
        loss = loss_fn(model(batch), batch["label"]) + model.regularization()
        loss.backward()
        opt.step()
    return n / (time.perf_counter() - t)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lake", required=True)
    p.add_argument("--model", default="umair_fps")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--rows", type=int, default=0, help="bare loop over the first ROWS training examples (0: all)")
    p.add_argument("--bare-only", action="store_true", help="only the bare loop (the paper-size run trains itself)")
    p.add_argument("--out", default="bench/results/train_throughput.json")
    a = p.parse_args()
    overrides: dict = {}
    result = {"model": a.model, "batch_size": a.batch_size, "threads": torch.get_num_threads(), "bare_rows": a.rows}
    result["bare_samples_per_s"] = round(bare_loop(a.lake, a.model, a.batch_size, overrides, a.rows))
    if a.bare_only:
        save_result(result, a.out)
        return 0
    with tempfile.TemporaryDirectory() as runs:
        for workers in (1, 2):
            for in_memory in (False, True):
                key = f"{workers}w" + ("_in_memory" if in_memory else "")
                r = run(
                    a.lake,
                    runs,
                    TrainConfig(
                        model=a.model,
                        batch_size=a.batch_size,
                        num_workers=workers,
                        overrides=overrides,
                        in_memory=in_memory,
                    ),
                    run_name=f"bench-{key}",
                )
                ray.shutdown()  # each configuration on a fresh local Ray, as a submitted job would be: no leftover actors
                result[f"ray_{key}_samples_per_s"] = round(r["train_samples_per_s"])
                result[f"ratio_{key}"] = round(r["train_samples_per_s"] / result["bare_samples_per_s"], 3)
                result[f"ray_{key}_first_batch_seconds"] = round(r["first_batch_seconds"], 1)
                result[f"ray_{key}_data_wait_seconds"] = round(r["data_wait_seconds"], 1)
                result[f"ratio_{key}_end_to_end"] = round(
                    r["train_samples_per_s_end_to_end"] / result["bare_samples_per_s"], 3
                )
    save_result(result, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
