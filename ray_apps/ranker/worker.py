"""The function each Ray Train worker runs for a ranker (`train_loop_per_worker`): it strings together
the plain functions of ray_apps/ranker/loop.py (train_epoch, evaluate, epoch batches, the training
state) with Ray Train's checkpoints, reports and dataset shards, as Ray's own examples write it.
"""

from __future__ import annotations

import io
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ray_apps.artifacts import load_checkpoint_state, save_checkpoint_state, save_ranker, write_json
from ray_apps.console import progress_line
from ray_apps.encoders.item_features import ItemVectors, load_item_vectors
from ray_apps.ranker.config import TrainConfig
from ray_apps.ranker.loop import EpochStats, epoch_batches, gather, merged_evaluation, train_epoch, training_state
from ray_apps.ranker.protocol import BatchTail, Plateau, current_lr, recalibrate_batch_norm
from ray_apps.ranker.train_metrics import TrainMetrics
from umair_models import storage
from umair_models.features import FeatureSpec


@dataclass(frozen=True)
class RankerWork:
    """What the driver hands every training worker of one run, typed (Ray pickles it to the workers).

    item_features: where the frozen item vectors are; each worker reads them itself (at the paper's
    size 5.8 GB: not shipped through the object store). None for a model that takes none.
    """

    config: TrainConfig
    spec: FeatureSpec
    run_dir: str  # a local path or a URI, absolute: workers run elsewhere
    splits: list[str]
    item_features: ItemVectors | None = None


def train_loop_per_worker(cfg: dict[str, Any]) -> None:
    """cfg: {"work": RankerWork, "torch_threads", "progress"} (ray_apps.trainer.fit_trainer adds the last two).

    Protocol (`ray_apps.ranker.protocol`): with config.early_stop, after every epoch the validation
    split is evaluated (batch-norm statistics recomputed first), the learning rate decays when the
    monitored metric does not improve, the run stops after `patience` such epochs, and the best
    epoch's weights are restored before the test evaluation. Without it: `epochs` passes, then test.
    """
    import ray.train
    import ray.train.torch

    work: RankerWork = cfg["work"]
    config, spec = work.config, work.spec
    torch.set_num_threads(cfg.get("torch_threads", 1))
    vectors = load_item_vectors(work.item_features) if work.item_features else {}
    fresh = training_state(config, spec, vectors)
    model, optimizer, scheduler, plateau = fresh.model, fresh.optimizer, fresh.scheduler, fresh.plateau
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
    prometheus = TrainMetrics(work.run_dir.rstrip("/").rsplit("/", 1)[-1], config.model, rank)

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
    validate = config.early_stop and "valid" in work.splits
    tail = BatchTail(0)
    for epoch in range(start_epoch, config.epochs):
        if plateau.stop:
            break  # a run resumed after its early stop
        lr = current_lr(optimizer)
        tail = BatchTail(config.precise_bn_batches)  # the epoch's last batches: batch-norm statistics for evaluation
        prometheus.epoch(epoch + 1)
        on_step = _StepHook(config, epoch, history, progress, report, prometheus)
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
            prometheus.validated(summary["auc"], summary["logloss"])
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
    run_dir = work.run_dir  # a local path or a URI
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
        prometheus: TrainMetrics,
    ) -> None:
        self.config, self.epoch, self.history, self.progress, self.report = config, epoch, history, progress, report
        self.prometheus = prometheus
        self.started = self.last_log = time.time()

    def __call__(self, stats: EpochStats) -> None:
        config, epoch = self.config, self.epoch
        if stats.steps % 20 == 0:
            self.history.append({"epoch": epoch, "step": stats.steps, "loss": stats.recent_loss()})
            rate = stats.samples / max(time.time() - self.started, 1e-9)
            self.prometheus.step(stats.samples, rate, stats.recent_loss())
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
