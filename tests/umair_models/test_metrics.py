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


@pytest.mark.parametrize("decimals", [None, 2])  # 2 decimals: ties within users
def test_gauc_equals_sklearn_per_user(decimals):
    users = rng.integers(0, 300, 20_000)
    y = rng.random(20_000) < 0.25
    s = rng.random(20_000) + y * 0.2
    if decimals:
        s = np.round(s, decimals)
    total = weight = 0.0
    for u in np.unique(users):
        mine = users == u
        if 0 < y[mine].sum() < mine.sum():
            total += roc_auc_score(y[mine], s[mine]) * mine.sum()
            weight += mine.sum()
    assert gauc(users, s, y) == pytest.approx(total / weight, abs=1e-12)


def test_gauc_is_nan_without_a_user_with_both_classes():
    assert np.isnan(gauc(np.array([1, 1, 2]), np.array([0.1, 0.2, 0.3]), np.array([1, 1, 0])))
    assert np.isnan(gauc(np.zeros(0), np.zeros(0), np.zeros(0)))


def test_update_appends_the_batch_and_sorts_nothing(monkeypatch):
    """An evaluation costs one sort at the end, O(N log N), not one per batch (the old EvalState.update
    re-sorted everything seen so far: quadratic in the batches). Checked by what update does, not by
    timing it, so a busy machine cannot fail it."""
    import umair_models.metrics as metrics

    users, y = rng.integers(0, 50, 200 * 100), rng.random(200 * 100) < 0.3
    s = rng.random(200 * 100).astype(np.float32)

    def no_sorting(*args, **kwargs):
        raise AssertionError("EvalState.update sorted")

    state = EvalState()
    with monkeypatch.context() as m:
        for name in ("unique", "lexsort", "argsort", "sort"):
            m.setattr(metrics.np, name, no_sorting)
        for i in range(200):
            part = slice(i * 100, (i + 1) * 100)
            state.update(users[part], s[part], y[part])
    assert [len(b) for b in state.probs] == [100] * 200  # kept per batch, not merged on each update
    assert state.summary()["auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_update_keeps_copies_not_views_of_the_callers_batch() -> None:
    """A batch's columns can be views of one buffer holding the whole batch (Ray Train's ingest);
    a kept view would keep every column of every batch alive (1 KB a row at the paper's size)."""
    rng = np.random.default_rng(0)
    batch = np.concatenate([rng.integers(0, 50, 1000), rng.random(1000), rng.integers(0, 2, 1000)]).astype(np.float64)
    users, probs, labels = batch[:1000], batch[1000:2000], batch[2000:]  # contiguous views of one buffer
    state = EvalState()
    state.update(users, probs, labels)
    for kept in (*state.users, *state.probs, *state.labels):
        assert not np.shares_memory(kept, batch)
    expected = auc(probs.copy(), labels.copy())
    batch[:] = 0  # the caller reuses its buffer
    assert state.summary()["auc"] == expected
