"""Metrics equal scikit-learn's, and merging shards equals the unsharded result exactly."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import roc_auc_score

from umair_models.metrics import AUCState, EvalState, LogLossState, auc, gauc, log_loss

rng = np.random.default_rng(0)


@pytest.mark.parametrize("decimals", [None, 1])  # 1 decimal: many ties
def test_auc_equals_sklearn(decimals):
    y = rng.random(5000) < 0.3
    s = rng.random(5000) + y * 0.3
    if decimals:
        s = np.round(s, decimals)
    assert auc(s, y) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_log_loss_equals_sklearn_with_clipping():
    y = rng.random(1000) < 0.4
    p = rng.random(1000)
    p[:3] = [0.0, 1.0, 1.0]
    assert log_loss(p, y) == pytest.approx(sk_log_loss(y, np.clip(p, 1e-7, 1 - 1e-7)), rel=1e-9)


def test_sharded_merge_equals_unsharded():
    y = rng.random(3000) < 0.2
    s = np.round(rng.random(3000) + y * 0.2, 2)
    users = rng.integers(0, 50, 3000)
    shards = np.array_split(rng.permutation(3000), 4)
    merged_auc, merged_ll, merged = AUCState(), LogLossState(), EvalState()
    for idx in shards:
        merged_auc = merged_auc.merge(AUCState.of(s[idx], y[idx]))
        merged_ll = merged_ll.merge(LogLossState.of(s[idx], y[idx]))
        part = EvalState()
        part.update(users[idx], s[idx], y[idx])
        merged = merged.merge(part)
    assert merged_auc.value() == auc(s, y)
    assert merged_ll.value() == pytest.approx(log_loss(s, y), rel=1e-12)
    whole = EvalState()
    whole.update(users, s, y)
    assert merged.summary() == pytest.approx(whole.summary())


def test_gauc_is_impression_weighted_per_user_auc():
    users = np.array([1, 1, 1, 2, 2, 2, 2, 3, 3])
    y = np.array([1, 0, 0, 1, 1, 0, 0, 1, 1])  # user 3 has one class only: skipped
    s = np.array([0.9, 0.1, 0.5, 0.2, 0.8, 0.3, 0.9, 0.5, 0.6])
    u1 = roc_auc_score(y[:3], s[:3])
    u2 = roc_auc_score(y[3:7], s[3:7])
    assert gauc(users, s, y) == pytest.approx((3 * u1 + 4 * u2) / 7)


def test_auc_is_nan_with_one_class():
    assert np.isnan(auc(np.array([0.1, 0.2]), np.array([1, 1])))
