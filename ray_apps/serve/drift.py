"""Score drift: the population stability index (PSI) of the scores a replica serves against the run's own
offline test predictions (RUN/predictions.npz, written by training). No Ray here.

    PSI = sum over bins of (served share - offline share) * ln(served share / offline share)

Bins are the deciles of the offline predictions, so each holds a tenth of them. Read it the way credit
scoring does: below 0.1 the served scores look like the test split's; 0.1-0.25 a shift worth a look;
above PAGE_AT (0.25) the traffic, the features or the model input no longer look like what the run was
tested on: page someone (a broken feature table, a new client sending other candidates, a stale run).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BINS = 10
PAGE_AT = 0.25
MIN_SCORES = 100  # fewer served scores than this: no PSI yet (sampling noise alone would be ~BINS / n)
FLOOR = 1e-4  # an empty bin's share, so the logarithm stays finite


@dataclass
class ScoreDrift:
    edges: np.ndarray  # [B-1] inner bin edges: deciles of the offline test predictions
    expected: np.ndarray  # [B] share of offline test predictions per bin
    counts: np.ndarray = field(init=False)  # [B] served scores per bin since this run was loaded

    def __post_init__(self) -> None:
        self.counts = np.zeros(len(self.expected), np.int64)

    @classmethod
    def from_predictions(cls, probs: np.ndarray) -> ScoreDrift:
        """probs: [N] offline test predictions of the run."""
        edges = np.unique(np.quantile(probs, np.linspace(0, 1, BINS + 1)[1:-1]))
        expected = np.bincount(np.searchsorted(edges, probs, side="right"), minlength=len(edges) + 1) / len(probs)
        return cls(edges, expected)

    @classmethod
    def for_run(cls, run_dir: Path) -> ScoreDrift | None:
        """From RUN/predictions.npz, or None for a run without offline predictions."""
        path = run_dir / "predictions.npz"
        if not path.exists():
            return None
        with np.load(path) as saved:
            probs = saved["prob"]
        return cls.from_predictions(probs) if len(probs) else None

    def add(self, scores: list[float] | np.ndarray) -> None:
        """Count served scores [n] into the bins."""
        bins = np.searchsorted(self.edges, np.asarray(scores, np.float64), side="right")
        self.counts += np.bincount(bins, minlength=len(self.counts))

    def psi(self) -> float | None:
        """The PSI of what was served so far, or None before MIN_SCORES scores."""
        n = int(self.counts.sum())
        if n < MIN_SCORES:
            return None
        served = np.maximum(self.counts / n, FLOOR)
        offline = np.maximum(self.expected, FLOOR)
        return float(np.sum((served - offline) * np.log(served / offline)))

    def describe(self) -> dict:
        return {"psi": self.psi(), "scores": int(self.counts.sum()), "page_at": PAGE_AT, "bins": len(self.counts)}
