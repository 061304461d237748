"""Exact, mergeable evaluation metrics: global AUC (ties handled), log loss, per-user GAUC.

Each metric has a small state that shards compute independently and `merge` combines exactly,
so a distributed evaluation equals a single-process one:
- AUCState: per distinct score, the count of positives and negatives (sorted by score);
- LogLossState: the sum of per-example losses and the example count;
- GAUC needs each user's examples together; its state keeps (user, score, label) rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

EPS = 1e-7


@dataclass
class AUCState:
    """Sorted distinct scores [S] with positive and negative counts [S]."""

    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pos: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    neg: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @classmethod
    def of(cls, scores: np.ndarray, labels: np.ndarray) -> AUCState:
        scores = np.asarray(scores, np.float64).ravel()
        labels = np.asarray(labels).ravel().astype(bool)
        uniq, inverse = np.unique(scores, return_inverse=True)
        pos = np.bincount(inverse, weights=labels, minlength=uniq.size).astype(np.int64)
        total = np.bincount(inverse, minlength=uniq.size).astype(np.int64)
        return cls(uniq, pos, total - pos)

    def merge(self, other: AUCState) -> AUCState:
        scores = np.concatenate([self.scores, other.scores])
        uniq, inverse = np.unique(scores, return_inverse=True)
        pos = np.bincount(inverse, np.concatenate([self.pos, other.pos]), uniq.size).astype(np.int64)
        neg = np.bincount(inverse, np.concatenate([self.neg, other.neg]), uniq.size).astype(np.int64)
        return AUCState(uniq, pos, neg)

    def value(self) -> float:
        """P(score+ > score-) + 0.5 P(tie); NaN when a class is absent."""
        n_pos, n_neg = self.pos.sum(), self.neg.sum()
        if n_pos == 0 or n_neg == 0:
            return float("nan")
        neg_below = np.cumsum(self.neg) - self.neg
        return float((self.pos * (neg_below + 0.5 * self.neg)).sum() / (n_pos * n_neg))


@dataclass
class LogLossState:
    total: float = 0.0
    count: int = 0

    @classmethod
    def of(cls, probs: np.ndarray, labels: np.ndarray) -> LogLossState:
        p = np.clip(np.asarray(probs, np.float64).ravel(), EPS, 1 - EPS)
        y = np.asarray(labels, np.float64).ravel()
        return cls(float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).sum()), int(y.size))

    def merge(self, other: LogLossState) -> LogLossState:
        return LogLossState(self.total + other.total, self.count + other.count)

    def value(self) -> float:
        return self.total / self.count if self.count else float("nan")


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    return AUCState.of(scores, labels).value()


def log_loss(probs: np.ndarray, labels: np.ndarray) -> float:
    return LogLossState.of(probs, labels).value()


def gauc(users: np.ndarray, scores: np.ndarray, labels: np.ndarray) -> float:
    """Impression-weighted mean of per-user AUC over users with both classes (Zhou et al. 2018)."""
    users = np.asarray(users).ravel()
    order = np.argsort(users, kind="stable")
    users, scores, labels = users[order], np.asarray(scores).ravel()[order], np.asarray(labels).ravel()[order]
    bounds = np.flatnonzero(np.diff(users)) + 1
    total, weight = 0.0, 0
    for s, y in zip(np.split(scores, bounds), np.split(labels, bounds)):
        if 0 < y.sum() < y.size:
            total += auc(s, y) * y.size
            weight += y.size
    return total / weight if weight else float("nan")


@dataclass
class EvalState:
    """Everything a shard computes for the final report; merge shards, then `summary()`."""

    auc: AUCState = field(default_factory=AUCState)
    logloss: LogLossState = field(default_factory=LogLossState)
    users: list[np.ndarray] = field(default_factory=list)
    probs: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)

    def update(self, users: np.ndarray, probs: np.ndarray, labels: np.ndarray) -> None:
        self.auc = self.auc.merge(AUCState.of(probs, labels))
        self.logloss = self.logloss.merge(LogLossState.of(probs, labels))
        self.users.append(np.asarray(users))
        self.probs.append(np.asarray(probs, np.float64))
        self.labels.append(np.asarray(labels))

    def merge(self, other: EvalState) -> EvalState:
        return EvalState(
            self.auc.merge(other.auc),
            self.logloss.merge(other.logloss),
            self.users + other.users,
            self.probs + other.probs,
            self.labels + other.labels,
        )

    def summary(self) -> dict[str, float]:
        def cat(xs: list[np.ndarray]) -> np.ndarray:
            return np.concatenate(xs) if xs else np.zeros(0)

        return {
            "auc": self.auc.value(),
            "logloss": self.logloss.value(),
            "gauc": gauc(cat(self.users), cat(self.probs), cat(self.labels)),
            "examples": self.logloss.count,
        }


def mean_average_precision(probs: np.ndarray, targets: np.ndarray) -> float:
    """Multi-label mAP: mean over classes with at least one positive of average precision. [N, C] each."""
    probs, targets = np.asarray(probs, np.float64), np.asarray(targets).astype(bool)
    aps = []
    for c in range(targets.shape[1]):
        y = targets[:, c]
        if not y.any():
            continue
        order = np.argsort(-probs[:, c], kind="stable")
        hits = y[order]
        precision = np.cumsum(hits) / np.arange(1, hits.size + 1)
        aps.append(float((precision * hits).sum() / hits.sum()))
    return float(np.mean(aps)) if aps else float("nan")


def micro_f1(probs: np.ndarray, targets: np.ndarray, threshold: float = 0.5) -> float:
    pred, y = np.asarray(probs) >= threshold, np.asarray(targets).astype(bool)
    tp, fp, fn = (pred & y).sum(), (pred & ~y).sum(), (~pred & y).sum()
    return float(2 * tp / (2 * tp + fp + fn)) if tp + fp + fn else float("nan")
