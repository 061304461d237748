"""The training protocol around the epochs (as the CTR field runs it, e.g. FuxiCTR): monitor a
validation metric, decay the learning rate on each epoch that does not improve it, stop after
`patience` such epochs, and test the best epoch's weights; plus exact batch-norm statistics
before every evaluation.

Plain PyTorch: nothing here knows about Ray, so the protocol is testable in one process.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch

MONITORS: dict[str, Literal["min", "max"]] = {"auc": "max", "logloss": "min", "gauc": "max"}


@dataclass
class Plateau:
    """Best-epoch bookkeeping on a validation metric (`monitor`: auc / gauc higher, logloss lower is better).

    `update(epoch, value)` -> whether it improved (strictly); `stop` once `patience` epochs in a
    row did not. Its state travels in the training checkpoint (`state_dict` / `from_state`).
    """

    monitor: str = "auc"
    patience: int = 2
    best: float | None = None
    best_epoch: int = -1
    stale: int = 0

    def __post_init__(self) -> None:
        if self.monitor not in MONITORS:
            raise ValueError(f"monitor must be one of {sorted(MONITORS)}, got {self.monitor!r}")
        if self.patience < 1:
            raise ValueError(f"patience must be >= 1 (epochs without improvement before stopping), got {self.patience}")

    @property
    def mode(self) -> Literal["min", "max"]:
        return MONITORS[self.monitor]

    def update(self, epoch: int, value: float) -> bool:
        better = self.best is None or (value > self.best if self.mode == "max" else value < self.best)
        if better:
            self.best, self.best_epoch, self.stale = value, epoch, 0
        else:
            self.stale += 1
        return better

    @property
    def stop(self) -> bool:
        return self.stale >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Plateau:
        return cls(**state)


def lr_schedule(optimizer: torch.optim.Optimizer, mode: Literal["min", "max"], factor: float, floor: float) -> Any:
    """torch's ReduceLROnPlateau set to act on every epoch that does not strictly improve (patience 0):
    lr <- max(lr * factor, floor). factor 1 keeps the learning rate fixed."""
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode=mode, factor=factor if factor < 1 else 1.0 - 1e-12, patience=0, threshold=0.0,
        threshold_mode="abs", min_lr=floor,
    )  # fmt: skip


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


def has_batch_norm(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


class BatchTail:
    """Keeps the last `n` batches an iterator yields (CPU tensors, as drawn): the training batches
    that `recalibrate_batch_norm` reuses, so the statistics need no second read of the data."""

    def __init__(self, n: int) -> None:
        self.batches: deque[dict[str, torch.Tensor]] = deque(maxlen=max(n, 1))
        self.n = n

    def watch(self, batches: Iterator[dict[str, torch.Tensor]]) -> Iterator[dict[str, torch.Tensor]]:
        for batch in batches:
            if self.n > 0:
                self.batches.append(batch)
            yield batch


def recalibrate_batch_norm(model: torch.nn.Module, batches: Sequence[dict[str, torch.Tensor]], device: Any) -> int:
    """Exact batch-norm statistics for the current weights ("precise BN", Wu & Johnson 2021).

    During training each BatchNorm keeps an exponential average (momentum 0.1) of batch statistics
    taken from *earlier* weights; when the weights move fast (few steps per epoch, a large learning
    rate) those averages lag and evaluation-mode outputs drift from training-mode ones (a model that
    fits its training data can score a validation log loss of 7). Here the statistics are recomputed
    as the plain mean over `batches` (training batches {column: [B, ...]}) with the weights fixed
    (forward passes only), then averaged over the DDP workers so every worker evaluates, and rank 0
    saves, the same model. Returns the number of batches used (0: no batch norm or no batches; the
    statistics are then left as they were).
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms or not batches:
        return 0
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    was_training = model.training
    model.train()
    with torch.no_grad():
        for batch in batches:
            model({k: v.to(device, non_blocking=True) for k, v in batch.items()})
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    _average_over_workers([t for m in norms for t in (m.running_mean, m.running_var) if t is not None])
    model.train(was_training)
    return len(batches)


def _average_over_workers(tensors: list[torch.Tensor]) -> None:
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    for t in tensors:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t /= dist.get_world_size()
