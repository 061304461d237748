"""Exact evaluation at the paper's test-split size: EvalState over 8.4 M predictions.

    python bench/eval_scale.py [--rows 8400000] [--users 215000] [--batch-size 4096] [--shards 2]
        [--out bench/results/eval_scale.json]

The predictions are synthetic (the cost of AUC / log loss / GAUC does not depend on where the scores
came from): per-user score offsets, so GAUC differs from AUC, and float32 probabilities as the model
gives them. Each of `--shards` workers updates its own EvalState batch by batch (what
`ray_apps.ranker.loop.evaluate` does after each forward pass); the states are merged and summarised
(what rank 0 does). Reports the seconds of each part and peak memory; target: <= 60 s in all on top
of the forward passes (issue 18). A subsample is checked against scikit-learn.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _results import PeakTreeMemory, save_result  # noqa: E402

from umair_models.metrics import EvalState, auc  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=8_400_000)
    p.add_argument("--users", type=int, default=215_000)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--shards", type=int, default=2)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "eval_scale.json"))
    a = p.parse_args()
    rng = np.random.default_rng(0)
    users = rng.integers(0, a.users, a.rows)
    taste = rng.normal(0, 1, a.users)
    labels = (rng.random(a.rows) < 1 / (1 + np.exp(-(taste[users] - 1.5)))).astype(np.float32)
    probs = (1 / (1 + np.exp(-(0.8 * taste[users] + labels + rng.normal(0, 1.5, a.rows) - 2)))).astype(np.float32)

    with PeakTreeMemory(0.2) as mem:
        t0 = time.perf_counter()
        states = []
        for shard in np.array_split(np.arange(a.rows), a.shards):
            state = EvalState()
            for start in range(0, shard.size, a.batch_size):
                rows = shard[start : start + a.batch_size]
                state.update(users[rows], probs[rows], labels[rows])
            states.append(state)
        t1 = time.perf_counter()
        merged = states[0]
        for s in states[1:]:
            merged = merged.merge(s)
        summary = merged.summary()
        t2 = time.perf_counter()
    sample = rng.choice(a.rows, 200_000, replace=False)
    from sklearn.metrics import roc_auc_score

    check = abs(auc(probs[sample], labels[sample]) - roc_auc_score(labels[sample], probs[sample]))
    save_result(
        {
            "rows": a.rows,
            "users": a.users,
            "batch_size": a.batch_size,
            "shards": a.shards,
            "update_seconds": round(t1 - t0, 2),
            "merge_and_summary_seconds": round(t2 - t1, 2),
            "total_seconds": round(t2 - t0, 2),
            "target_seconds": 60,
            "peak_memory_gb": round(mem.peak_gb, 2),
            "summary": summary,
            "auc_vs_sklearn_on_200k_sample": check,
        },
        a.out,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
