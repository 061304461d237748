"""What each Ray Train worker runs for a ranker: plain `train_epoch` / `evaluate` functions and the
`train_loop_per_worker` that strings them together (as Ray's own examples write it).

Shapes: a batch is {column: [B] or [B, L]} plus `label` [B] float and `gauc_key` [B] int64.
"""

from __future__ import annotations

import io
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ray_apps import storage
from ray_apps.artifacts import load_checkpoint_state, save_checkpoint_state, save_ranker, write_json
from ray_apps.console import progress_line
from ray_apps.encoders.item_features import ItemVectors, load_item_vectors
from ray_apps.ranker.config import TrainConfig
from ray_apps.ranker.protocol import BatchTail, Plateau, current_lr, lr_schedule, recalibrate_batch_norm
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


def train_loop_per_worker(cfg: dict[str, Any]) -> None:
    """cfg: {"config": TrainConfig fields, "spec", "run_dir", "splits", "torch_threads", "progress", "item_features"?
    (ItemVectors fields: the worker reads the frozen item vectors itself)}.

    Protocol (`ray_apps.ranker.protocol`): with config.early_stop, after every epoch the validation
    split is evaluated (batch-norm statistics recomputed first), the learning rate decays when the
    monitored metric does not improve, the run stops after `patience` such epochs, and the best
    epoch's weights are restored before the test evaluation. Without it: `epochs` passes, then test.
    """
    import ray.train
    import ray.train.torch

    config = TrainConfig(**cfg["config"])
    torch.set_num_threads(cfg.get("torch_threads", 1))
    torch.manual_seed(config.seed)
    spec = FeatureSpec.from_dict(cfg["spec"])
    model = build_model(config.model, spec, config.overrides, config.variant)
    if cfg.get("item_features"):
        for name, (vectors, present) in load_item_vectors(ItemVectors(**cfg["item_features"])).items():
            model.load_pretrained(name, torch.from_numpy(vectors), torch.from_numpy(present))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    plateau = Plateau(config.monitor, config.patience)
    scheduler = lr_schedule(optimizer, plateau.mode, config.lr_decay, config.lr_floor)
    start_epoch, skip, history, epochs, best = 0, 0, [], [], None
    resumed_from: dict[str, int] | None = None  # where this attempt picked up after a failure
    checkpoint = ray.train.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as d:
            state = load_checkpoint_state(d)
        model.load_trainable_state(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        plateau = Plateau.from_state(state["plateau"])
        start_epoch, skip, history, epochs, best = (
            state["epoch"], state["step"], state["history"], state["epochs"], state["best"]
        )  # fmt: skip
        resumed_from = {"epoch": start_epoch, "step": skip}
    device = ray.train.torch.get_device()
    ddp = ray.train.torch.prepare_model(model, parallel_strategy_kwargs={"broadcast_buffers": False})
    rank, world = ray.train.get_context().get_world_rank(), ray.train.get_context().get_world_size()
    progress = Path(cfg["progress"]) if rank == 0 else None

    def report(epoch: int, step: int, metrics: dict[str, Any]) -> None:
        """Rank 0 reports with a checkpoint; the others report the metrics only."""
        if rank != 0:
            ray.train.report(metrics)
            return
        with tempfile.TemporaryDirectory() as d:
            save_checkpoint_state(
                d,
                {
                    "model": model.trainable_state(),  # without the frozen item vectors (5.8 GB at the paper's size)
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "plateau": plateau.state_dict(),
                    "epoch": epoch,
                    "step": step,
                    "history": history,
                    "epochs": epochs,
                    "best": best,
                },
            )
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(d))

    totals = {"samples": 0, "seconds": 0.0, "data_wait": 0.0, "first_batch": 0.0}
    in_memory: dict[str, torch.Tensor] = {}
    train_shard = ray.train.get_dataset_shard("train")
    validate = config.early_stop and "valid" in cfg["splits"]
    tail = BatchTail(0)
    for epoch in range(start_epoch, config.epochs):
        if plateau.stop:
            break  # a run resumed after its early stop
        lr = current_lr(optimizer)
        tail = BatchTail(config.precise_bn_batches)  # the epoch's last batches: batch-norm statistics for evaluation
        on_step = _StepHook(config, epoch, history, progress, report)
        stats = train_epoch(
            ddp,
            model.regularization,
            optimizer,
            tail.watch(epoch_batches(train_shard, config, epoch, in_memory, rank, world)),
            device,
            skip,
            on_step,
            config.grad_clip,
        )
        skip = 0
        for key, value in (
            ("samples", stats.samples),
            ("seconds", stats.seconds),
            ("data_wait", stats.data_wait),
            ("first_batch", stats.first_batch),
        ):
            totals[key] += value
        if stats.losses and (
            not history or history[-1]["step"] != stats.steps
        ):  # the curve ends at the epoch's last step
            history.append({"epoch": epoch, "step": stats.steps, "loss": stats.recent_loss()})
        metrics: dict[str, Any] = {
            "epoch": epoch,
            "step": stats.steps,
            "train_loss": float(np.mean(stats.losses)) if stats.losses else float("nan"),
        }
        record: dict[str, Any] = {"epoch": epoch + 1, "lr": lr, "train_loss": metrics["train_loss"]}
        note = ""
        if validate:
            recalibrate_batch_norm(model, tail.batches, device)
            valid, _ = merged_evaluation(ddp, ray.train.get_dataset_shard("valid"), config.eval_batch_size, device)
            summary = valid.summary()
            metrics.update(valid_logloss=summary["logloss"], valid_auc=summary["auc"], valid_gauc=summary["gauc"])
            value = metrics[f"valid_{config.monitor}"]
            improved = plateau.update(epoch + 1, value)
            if improved and config.restore_best:
                best = model.trainable_state()
            scheduler.step(value)
            record.update(
                valid_auc=metrics["valid_auc"], valid_logloss=metrics["valid_logloss"], valid_gauc=metrics["valid_gauc"],
                improved=improved, lr_after=current_lr(optimizer),
            )  # fmt: skip
            note = f", valid AUC {metrics['valid_auc']:.4f} log loss {metrics['valid_logloss']:.4f}" + (
                " (best)" if improved else f" (best: epoch {plateau.best_epoch}; lr -> {current_lr(optimizer):.2g})"
            )
        epochs.append(record)
        progress_line(
            progress,
            f"[train] {config.run_label()} epoch {epoch + 1}/{config.epochs} done: train loss {metrics['train_loss']:.4f}"
            + note
            + f", {stats.samples / max(stats.seconds, 1e-9):,.0f} samples/s on this worker",
        )
        report(epoch + 1, 0, metrics)
        if validate and plateau.stop:
            progress_line(
                progress, f"[train] {config.run_label()}: stopped early, {config.patience} epoch(s) without improvement"
            )
            break

    if best is not None:
        model.load_trainable_state(best)  # its batch-norm statistics were recomputed for it
    else:
        recalibrate_batch_norm(model, tail.batches, device)
    every = gather(totals)
    nodes = gather(ray.get_runtime_context().get_node_id())
    tested = time.perf_counter()
    test, predictions = merged_evaluation(ddp, ray.train.get_dataset_shard("test"), config.eval_batch_size, device)
    tested = time.perf_counter() - tested
    if rank != 0:
        ray.train.report({"done": 1})
        return
    samples = sum(t["samples"] for t in every)
    slowest = max(t["seconds"] for t in every) or float("nan")
    steady = max(t["seconds"] - t["first_batch"] for t in every) or float("nan")
    # train_samples_per_s: steady state, from each worker's first batch to its last (the pipeline's
    # one-off start-up is first_batch_seconds); ..._end_to_end includes it.
    final = {
        **test.summary(),
        "parameters": model.num_parameters(),
        "train_samples": samples,
        "train_samples_per_s": samples / steady,
        "train_samples_per_s_end_to_end": samples / slowest,
        "train_seconds": slowest,
        "test_seconds": tested,  # reading the test split, the forward passes and the merged metrics
        "data_wait_seconds": max(t["data_wait"] for t in every),
        "first_batch_seconds": max(t["first_batch"] for t in every),
        "workers": len(every),
        "worker_nodes": len(set(nodes)),
        "resumed_from": resumed_from,
        "epochs_trained": len(epochs),
        "best_epoch": plateau.best_epoch if best is not None else len(epochs),
        "stopped_early": bool(validate and plateau.stop),
    }
    run_dir = cfg["run_dir"]  # a local path or a URI
    arrays = {k: np.concatenate([p[k] for p in predictions]) for k in ("gauc_key", "prob", "label")}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    storage.write_bytes(storage.join(run_dir, "predictions.npz"), buffer.getvalue())
    save_ranker(run_dir, model, spec.to_dict(), config.model, config.variant, model.config.to_dict())
    write_json(storage.join(run_dir, "history.json"), history)
    write_json(storage.join(run_dir, "epochs.json"), epochs)
    write_json(storage.join(run_dir, "test_metrics.json"), final)
    ray.train.report({"done": 1, **{f"test_{k}": v for k, v in final.items()}})


class _StepHook:
    """After each training step: a loss point every 20 steps, a progress line every log_every_s,
    a checkpoint every checkpoint_every steps (and the tests' injected failure after it)."""

    def __init__(
        self,
        config: TrainConfig,
        epoch: int,
        history: list[dict],
        progress: Path | None,
        report: Callable[[int, int, dict[str, Any]], None],
    ) -> None:
        self.config, self.epoch, self.history, self.progress, self.report = config, epoch, history, progress, report
        self.started = self.last_log = time.time()

    def __call__(self, stats: EpochStats) -> None:
        config, epoch = self.config, self.epoch
        if stats.steps % 20 == 0:
            self.history.append({"epoch": epoch, "step": stats.steps, "loss": stats.recent_loss()})
        if self.progress and time.time() - self.last_log >= config.log_every_s:
            self.last_log = time.time()
            progress_line(
                self.progress,
                f"[train] {config.run_label()} epoch {epoch + 1}/{config.epochs} step {stats.steps}: "
                f"loss {stats.recent_loss():.4f}, "
                f"{stats.samples / (self.last_log - self.started):,.0f} samples/s",
            )
        if config.checkpoint_every and stats.steps % config.checkpoint_every == 0:
            self.report(epoch, stats.steps, {"epoch": epoch, "step": stats.steps, "train_loss": stats.recent_loss()})
            _maybe_inject_failure(config.inject_failure_marker, f"epoch {epoch} step {stats.steps}")


def _maybe_inject_failure(marker: str, where: str) -> None:
    """Tests: raise once (the marker file records it) so a run must recover from its checkpoint."""
    if marker and not Path(marker).exists():
        Path(marker).write_text(f"failed once at {where}\n")
        raise RuntimeError("injected worker failure (test)")
