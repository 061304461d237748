"""The plain functions a ranker trains with, in a Ray Train worker (ray_apps/ranker/worker.py) or a Ray
Tune trial (ray_apps/ranker/tune.py) alike: the training state, `train_epoch`, `evaluate`, the epoch's
batches and the merge of every worker's evaluation.

Shapes: a batch is {column: [B] or [B, L]} plus `label` [B] float and `gauc_key` [B] int64.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ray_apps.ranker.config import TrainConfig
from ray_apps.ranker.protocol import Plateau, lr_schedule
from ray_apps.ranker.warm_start import warm_state
from umair_models.features import FeatureSpec
from umair_models.metrics import EvalState
from umair_models.models.registry import build_model

Batch = dict[str, torch.Tensor]


def to_device(batch: Batch, device: torch.device | str) -> Batch:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def evaluate(
    model: torch.nn.Module, batches: Iterator[Batch], device: torch.device | str
) -> tuple[EvalState, dict[str, np.ndarray]]:
    """Forward passes over `batches` -> (mergeable EvalState, raw predictions {gauc_key, prob, label})."""
    model.eval()
    state = EvalState()
    with torch.no_grad():
        for batch in batches:
            batch = to_device(batch, device)
            p = torch.sigmoid(model(batch)).float().cpu().numpy()
            state.update(batch["gauc_key"].cpu().numpy(), p, batch["label"].cpu().numpy())  # copies them
    keys, probs, labels = state.rows()
    return state, {
        "gauc_key": keys.astype(np.int64, copy=False),
        "prob": probs,
        "label": labels.astype(np.float32, copy=False),
    }


@dataclass
class EpochStats:
    """One epoch of one worker: steps, samples, mean loss, time training and time waiting for data."""

    steps: int = 0
    samples: int = 0
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    data_wait: float = 0.0
    first_batch: float = 0.0

    def recent_loss(self, n: int = 20) -> float:
        return float(np.mean(self.losses[-n:])) if self.losses else float("nan")


def train_epoch(
    model: torch.nn.Module,
    regularization: Callable[[], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    batches: Iterator[Batch],
    device: torch.device | str,
    skip: int = 0,
    on_step: Callable[[EpochStats], None] | None = None,
    grad_clip: float = 0.0,
) -> EpochStats:
    """One pass of BCE + L2 over `batches`; the first `skip` batches are drawn but not trained on
    (a run resumed mid-epoch). `on_step(stats)` runs after every trained step (logs, checkpoints).
    `grad_clip` > 0 clips the gradients' global norm before each step."""
    model.train()
    loss_fn = torch.nn.BCEWithLogitsLoss()
    stats, t0 = EpochStats(), time.time()
    while True:
        asked = time.time()
        batch = next(batches, None)
        waited = time.time() - asked
        stats.data_wait += waited  # time the step waited on the data pipeline (a starved pipeline shows here)
        if stats.steps == 0:
            stats.first_batch = waited  # of which: the pipeline's start-up
        if batch is None:
            break
        stats.steps += 1
        if stats.steps <= skip:
            continue
        batch = to_device(batch, device)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(batch), batch["label"]) + regularization()
        loss.backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        stats.samples += len(batch["label"])
        stats.losses.append(loss.item())
        if on_step is not None:
            on_step(stats)
    stats.seconds = time.time() - t0
    return stats


def epoch_batches(
    shard: Any, config: Any, epoch: int, in_memory: dict[str, torch.Tensor], rank: int = 0, world: int = 1
) -> Iterator[Batch]:
    """One epoch of training batches {column: [B, ...]} from this worker's shard.

    Streaming (default): Ray Data reads the shard anew each epoch, shuffling in a local buffer.
    config.in_memory: `shard` is the whole split in the table's order (not split by Ray Train); the
    first call keeps rows rank, rank + world, ... of it in `in_memory` as tensors (one pass, large
    batches; every worker the same number of rows, the remainder dropped, as Ray's equal split
    does). Each worker's rows thus depend on the seed alone, not on which node holds which block:
    the same run on one node or several. Every epoch then draws a fresh permutation (seed + epoch)
    and slices it. For shards that fit in a worker's memory this skips Ray Data's per-batch work
    (collation, the shuffle buffer, prefetch threads), which on a small CPU machine competes with
    training.
    """
    if not config.in_memory:
        yield from shard.iter_torch_batches(
            batch_size=config.batch_size,
            local_shuffle_buffer_size=config.shuffle_buffer,
            local_shuffle_seed=config.seed + epoch,
            prefetch_batches=4,
        )
        return
    if not in_memory:
        parts: dict[str, list[torch.Tensor]] = {}
        seen = 0
        for batch in shard.iter_torch_batches(batch_size=65536, prefetch_batches=1):
            first = (rank - seen) % world  # the batch's first row that belongs to this worker
            seen += len(batch["label"])
            for k, v in batch.items():
                parts.setdefault(k, []).append(v[first::world])
        held = {k: torch.cat(v) for k, v in parts.items()}
        in_memory.update({k: v[: seen // world] for k, v in held.items()})
    n = len(in_memory["label"]) if in_memory else 0
    order = torch.randperm(n, generator=torch.Generator().manual_seed(config.seed + epoch))
    for start in range(0, n, config.batch_size):
        rows = order[start : start + config.batch_size]
        yield {k: v[rows] for k, v in in_memory.items()}


def gather(obj: Any) -> list[Any]:
    """Every worker's `obj`, in rank order (just [obj] without a process group)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def merged_evaluation(model: torch.nn.Module, shard: Any, batch_size: int, device: Any) -> tuple[EvalState, list[dict]]:
    """Evaluate this worker's shard; -> (every worker's states merged, every worker's predictions)."""
    state, preds = evaluate(model, shard.iter_torch_batches(batch_size=batch_size, prefetch_batches=2), device)
    states = gather(state)
    merged = states[0]
    for s in states[1:]:
        merged = merged.merge(s)
    return merged, gather(preds)


@dataclass
class TrainingState:
    """A ranker ready to train: the model (item vectors loaded), Adam, the plateau LR schedule and the
    early-stopping record. Built by `training_state` for a Ray Train worker and a Ray Tune trial alike."""

    model: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any
    plateau: Plateau


def training_state(
    config: TrainConfig, spec: FeatureSpec, item_vectors: dict[str, tuple[np.ndarray, np.ndarray]]
) -> TrainingState:
    """Seed torch, build config.model on `spec` (its overrides and variant), load the frozen item
    vectors ({name: (vectors [N, D], present [N])}; the model takes the ones it looks up), the weights of
    config.init_from (a warm start), then the
    optimiser and the protocol's schedule (ray_apps.ranker.protocol)."""
    torch.manual_seed(config.seed)
    model = build_model(config.model, spec, config.overrides, config.variant)
    if config.init_from:  # a warm start: the trained run's weights, new embedding rows as initialised
        model.load_trainable_state(warm_state(config.init_from, model, config.model, config.variant)[0])
    for name, (vectors, present) in item_vectors.items():  # a model that does not look `name` up ignores it
        model.load_pretrained(name, torch.from_numpy(vectors), torch.from_numpy(present))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    plateau = Plateau(config.monitor, config.patience)
    scheduler = lr_schedule(optimizer, plateau.mode, config.lr_decay, config.lr_floor)
    return TrainingState(model, optimizer, scheduler, plateau)
