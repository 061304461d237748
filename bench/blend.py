"""Does a blend of a model with its ID-only self, weighed on the validation split, keep the vectors from
ever costing AUC?

    .venv/bin/python bench/blend.py --lake L --vectors RUNS_A/umair_fps --ids RUNS_B/umair_fps__w-o_ALL --seeds 3

For each seed (run names: NAME for seed 0, NAME__seedK after), both runs score every row of the lake's
validation and test splits (`ray_apps.lifecycle.gate.score_run`, in this process). The blend's logit is
w * logit(vectors) + (1 - w) * logit(ids); w runs over 0, 0.05, ..., 1 and the one with the best
validation AUC is kept (ties: the larger w). The test split is scored for the report only, never to
choose. Printed per seed and as mean ± sd: each run's test AUC, the pick by validation (w in {0, 1},
what the comparison report's "Picked by validation" does) and the blend; saved as JSON to --out. The
figures go to bench/README.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _results import save_result  # noqa: E402

from ray_apps.lifecycle.gate import score_run  # noqa: E402
from umair_models.metrics import auc  # noqa: E402

WEIGHTS = np.round(np.linspace(0.0, 1.0, 21), 2)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


def _seed_dir(run: str, seed: int) -> str:
    return run if seed == 0 else f"{run}__seed{seed}"


def blend_one(lake: str, vectors_run: str, ids_run: str) -> dict[str, float]:
    """-> the chosen w, validation AUC of each run and of the blend, test AUC of each run, of the pick by
    validation and of the blend, for one pair of runs."""
    scores = {}
    for split in ("valid", "test"):
        pv, labels = score_run(vectors_run, lake, split)
        pi, labels_i = score_run(ids_run, lake, split)
        assert np.array_equal(labels, labels_i), "the two runs scored different rows"
        scores[split] = (_logit(pv), _logit(pi), labels)
    zv, zi, yv = scores["valid"]
    valid = [auc(w * zv + (1 - w) * zi, yv) for w in WEIGHTS]
    best = max(range(len(WEIGHTS)), key=lambda k: (valid[k], WEIGHTS[k]))
    w = float(WEIGHTS[best])
    tv, ti, yt = scores["test"]
    pick_vectors = valid[-1] >= valid[0]
    return {
        "w": w,
        "valid_vectors": valid[-1],
        "valid_ids": valid[0],
        "valid_blend": valid[best],
        "test_vectors": auc(tv, yt),
        "test_ids": auc(ti, yt),
        "test_pick": auc(tv if pick_vectors else ti, yt),
        "test_blend": auc(w * tv + (1 - w) * ti, yt),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lake", required=True)
    p.add_argument("--vectors", required=True, help="run folder of the model given the item vectors (seed 0)")
    p.add_argument("--ids", required=True, help="run folder of its ID-only self, `w/o ALL` (seed 0)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument(
        "--out",
        default=str(ROOT / "bench" / "results" / "blend.json"),
        help="where the per-seed figures are saved (JSON)",
    )
    a = p.parse_args()
    rows = []
    for seed in range(a.seeds):
        r = blend_one(a.lake, _seed_dir(a.vectors, seed), _seed_dir(a.ids, seed))
        rows.append(r)
        print(f"seed {seed}: " + ", ".join(f"{k} {v:.4f}" for k, v in r.items()), flush=True)
    for key in rows[0]:
        print(f"{key:>14}: {_mean_sd([r[key] for r in rows])}")
    print(f"blend minus ID-only, paired: {_mean_sd([r['test_blend'] - r['test_ids'] for r in rows], signed=True)}")
    save_result({"lake": a.lake, "vectors": a.vectors, "ids": a.ids, "seeds": rows}, a.out)


def _mean_sd(values: list[float], signed: bool = False) -> str:
    v = np.array(values)
    sd = v.std(ddof=1) if len(v) > 1 else 0.0
    return f"{v.mean():{'+' if signed else ''}.4f} ± {sd:.4f}"


if __name__ == "__main__":
    main()
