"""The PSI of served scores against the run's offline test predictions (no Ray)."""

from __future__ import annotations

import numpy as np

from ray_apps.serve.drift import MIN_SCORES, PAGE_AT, ScoreDrift


def test_scores_like_the_test_split_give_a_small_psi_and_shifted_ones_a_large_one():
    rng = np.random.default_rng(0)
    offline = rng.beta(2, 8, 5000)  # the run's offline test predictions
    drift = ScoreDrift.from_predictions(offline)
    assert np.allclose(drift.expected, 0.1, atol=0.01)  # deciles: a tenth of the predictions per bin
    drift.add(rng.beta(2, 8, MIN_SCORES - 1))
    assert drift.psi() is None  # too few scores to say
    drift.add(rng.beta(2, 8, 2000))
    assert drift.psi() < 0.02
    shifted = ScoreDrift.from_predictions(offline)
    shifted.add(rng.beta(5, 5, 2000))  # scores around 0.5: another population
    assert shifted.psi() > PAGE_AT
    constant = ScoreDrift.from_predictions(offline)
    constant.add(np.full(500, 0.2))  # one value: every score in one bin
    assert np.isfinite(constant.psi()) and constant.psi() > PAGE_AT
    assert constant.describe() == {"psi": constant.psi(), "scores": 500, "page_at": PAGE_AT, "bins": 10}
