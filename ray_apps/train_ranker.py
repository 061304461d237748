"""Ray Train: train and evaluate a ranker (UMAIR-FPS or a baseline) with DDP.

    python -m ray_apps.train_ranker --lake LAKE --runs RUNS [--model umair_fps] [--variant "w/o STY"]
                                    [--dataset dataset.yaml] [--num-workers 2] [--use-gpu]
    umair train --lake LAKE --runs RUNS --model dcn_v2

Data streams from Delta through Ray Data (read_delta -> fixed-shape arrays -> per-worker
shards -> iter_torch_batches with local shuffle and prefetch). Item vectors are a frozen
table loaded once per worker (on its device). Adam lr 1e-3, one epoch, embedding L2 1e-3 by
default. Checkpoints every `checkpoint_every` steps and per epoch; a worker failure resumes from
the last checkpoint (FailureConfig), skipping the batches it had already trained on.
After training: exact test AUC / log loss over all workers' shards (merged states, not
averaged), GAUC, parameter count, train samples/s -> RUNS/<run>/metrics.json, predictions,
model.pt, and a row appended to LAKE/experiments (Delta).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ray_apps.common import add_cluster_args, init_ray, log, setup_logging, torch_threads, train_run_storage, worker_resources, write_json
from ray_apps.ranker_data import DatasetConfig, ToArrays, load_item_vectors
from umair_models.features import FeatureSpec
from umair_models.metrics import EvalState
from umair_models.models.registry import build_model


@dataclass
class TrainConfig:
    model: str = "umair_fps"
    variant: str | None = None
    overrides: dict = field(default_factory=dict)
    epochs: int = 1
    batch_size: int = 1024
    eval_batch_size: int = 4096        # forward only: larger batches, fewer steps
    lr: float = 1e-3
    num_workers: int = 1
    use_gpu: bool = False
    seed: int = 0
    early_stop: bool = False
    checkpoint_every: int = 0          # steps; 0 = only at epoch end
    max_failures: int = 1
    shuffle_buffer: int = 8192         # streaming: rows in each worker's local shuffle buffer
    in_memory: bool = False            # hold each worker's shard as tensors, shuffle globally per epoch (small data)
    log_every_s: float = 10.0          # training progress lines from rank 0
    inject_failure_marker: str = ""    # tests: raise once after the first checkpoint


def _device_batch(batch: dict, device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _evaluate(model, shard, batch_size: int, device) -> tuple[EvalState, dict]:
    """This worker's shard -> (EvalState, raw predictions)."""
    model.eval()
    state, keys, probs, labels = EvalState(), [], [], []
    with torch.no_grad():
        for batch in shard.iter_torch_batches(batch_size=batch_size, prefetch_batches=2):
            batch = _device_batch(batch, device)
            p = torch.sigmoid(model(batch)).float().cpu().numpy()
            y, k = batch["label"].cpu().numpy(), batch["gauc_key"].cpu().numpy()
            state.update(k, p, y)
            keys.append(k), probs.append(p), labels.append(y)
    cat = lambda xs, dt: np.concatenate(xs) if xs else np.zeros(0, dt)  # noqa: E731
    return state, {"gauc_key": cat(keys, np.int64), "prob": cat(probs, np.float64), "label": cat(labels, np.float32)}


def epoch_batches(shard, cfg: dict, epoch: int, in_memory: dict) -> Iterator[dict]:
    """One epoch of training batches {column: [B, ...]} from this worker's shard.

    Streaming (default): Ray Data reads the shard anew each epoch, shuffling in a local buffer.
    cfg["in_memory"]: the first call pulls the whole shard into `in_memory` as tensors (one pass,
    large batches); every epoch then draws a fresh global permutation (seed + epoch) and slices
    it. For shards that fit in a worker's memory this skips Ray Data's per-batch work (collation,
    the shuffle buffer, prefetch threads), which on a small CPU machine competes with training.
    """
    if not cfg["in_memory"]:
        yield from shard.iter_torch_batches(batch_size=cfg["batch_size"], local_shuffle_buffer_size=cfg["shuffle_buffer"],
                                            local_shuffle_seed=cfg["seed"] + epoch, prefetch_batches=4)
        return
    if not in_memory:
        parts: dict[str, list] = {}
        for batch in shard.iter_torch_batches(batch_size=65536, prefetch_batches=1):
            for k, v in batch.items():
                parts.setdefault(k, []).append(v)
        in_memory.update({k: torch.cat(v) for k, v in parts.items()})
    n = len(in_memory["label"]) if in_memory else 0
    order = torch.randperm(n, generator=torch.Generator().manual_seed(cfg["seed"] + epoch))
    for start in range(0, n, cfg["batch_size"]):
        rows = order[start:start + cfg["batch_size"]]
        yield {k: v[rows] for k, v in in_memory.items()}


def _gather(obj):
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def train_loop(cfg: dict) -> None:
    import ray.train
    import ray.train.torch

    torch.set_num_threads(cfg.get("torch_threads", 1))
    torch.manual_seed(cfg["seed"])
    spec = FeatureSpec.from_dict(cfg["spec"])
    model = build_model(cfg["model"], spec, cfg["overrides"], cfg["variant"])
    if model.lookups and cfg.get("item_vectors"):
        for name, (vectors, present) in cfg["item_vectors"].items():
            model.load_pretrained(name, torch.from_numpy(vectors), torch.from_numpy(present))
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    start_epoch, skip, history = 0, 0, []
    ckpt = ray.train.get_checkpoint()
    if ckpt:
        with ckpt.as_directory() as d:
            state = torch.load(Path(d, "state.pt"), map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start_epoch, skip, history = state["epoch"], state["step"], state["history"]
    device = ray.train.torch.get_device()
    model = ray.train.torch.prepare_model(model, parallel_strategy_kwargs={"broadcast_buffers": False})
    inner = model.module if hasattr(model, "module") else model
    rank = ray.train.get_context().get_world_rank()
    loss_fn = torch.nn.BCEWithLogitsLoss()
    train_shard = ray.train.get_dataset_shard("train")
    seen, train_seconds, data_wait, first_batch, best_valid = 0, 0.0, 0.0, 0.0, float("inf")
    in_memory: dict = {}  # the shard's tensors when cfg["in_memory"] (filled by the first epoch's first batch)

    def checkpoint(epoch: int, step: int, metrics: dict) -> None:
        if rank == 0:
            with tempfile.TemporaryDirectory() as d:
                torch.save({"model": inner.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch, "step": step,
                            "history": history}, Path(d, "state.pt"))
                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(d))
        else:
            ray.train.report(metrics)

    for epoch in range(start_epoch, cfg["epochs"]):
        model.train()
        t0, step, running, last_log, seen_before = time.time(), 0, [], time.time(), seen
        batches = epoch_batches(train_shard, cfg, epoch, in_memory)
        while True:
            asked = time.time()
            batch = next(batches, None)
            waited = time.time() - asked
            data_wait += waited  # time the step waited on Ray Data (a starved pipeline shows here)
            if step == 0:
                first_batch += waited  # of which: the pipeline's start-up
            if batch is None:
                break
            step += 1
            if step <= skip:  # resumed mid-epoch: these batches were trained before the failure
                continue
            batch = _device_batch(batch, device)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(batch), batch["label"]) + inner.regularization()
            loss.backward()
            opt.step()
            seen += len(batch["label"])
            running.append(loss.item())
            if step % 20 == 0:
                history.append({"epoch": epoch, "step": step, "loss": float(np.mean(running[-20:]))})
            if rank == 0 and time.time() - last_log >= cfg["log_every_s"]:  # the loop's progress (Ray Data's bars are off)
                last_log = time.time()
                print(f"[train] epoch {epoch + 1}/{cfg['epochs']} step {step}: loss {np.mean(running[-20:]):.4f}, "
                      f"{(seen - seen_before) / (last_log - t0):,.0f} samples/s on this worker", flush=True)
            if cfg["checkpoint_every"] and step % cfg["checkpoint_every"] == 0:
                checkpoint(epoch, step, {"epoch": epoch, "step": step, "train_loss": float(np.mean(running[-20:]))})
                marker = cfg.get("inject_failure_marker")
                if marker and not Path(marker).exists():
                    Path(marker).write_text(f"failed once at epoch {epoch} step {step}\n")
                    raise RuntimeError("injected worker failure (test)")
        train_seconds += time.time() - t0
        skip = 0
        metrics = {"epoch": epoch, "step": step, "train_loss": float(np.mean(running)) if running else float("nan")}
        if running and (not history or history[-1]["step"] != step):  # the curve always ends at the epoch's last step
            history.append({"epoch": epoch, "step": step, "loss": float(np.mean(running[-20:]))})
        if cfg["early_stop"] and "valid" in cfg["splits"]:
            states = _gather(_evaluate(model, ray.train.get_dataset_shard("valid"), cfg["eval_batch_size"], device)[0])
            valid = states[0]
            for s in states[1:]:
                valid = valid.merge(s)
            metrics["valid_logloss"] = valid.logloss.value()
            metrics["valid_auc"] = valid.auc.value()
        checkpoint(epoch + 1, 0, metrics)
        if cfg["early_stop"] and metrics.get("valid_logloss", 0) >= best_valid:
            break
        best_valid = min(best_valid, metrics.get("valid_logloss", best_valid))

    totals = _gather((seen, train_seconds, data_wait, first_batch))
    state, preds = _evaluate(model, ray.train.get_dataset_shard("test"), cfg["eval_batch_size"], device)
    all_states, all_preds = _gather(state), _gather(preds)
    if rank == 0:
        merged = all_states[0]
        for s in all_states[1:]:
            merged = merged.merge(s)
        samples = sum(t[0] for t in totals)
        slowest = max(t[1] for t in totals) or float("nan")
        steady = max(t[1] - t[3] for t in totals) or float("nan")
        # train_samples_per_s: steady state, from each worker's first batch to its last (the pipeline's
        # one-off start-up is first_batch_seconds); ..._end_to_end includes it.
        final = {**merged.summary(), "parameters": inner.num_parameters(), "train_samples": samples,
                 "train_samples_per_s": samples / steady, "train_samples_per_s_end_to_end": samples / slowest,
                 "train_seconds": slowest, "data_wait_seconds": max(t[2] for t in totals),
                 "first_batch_seconds": max(t[3] for t in totals), "workers": len(totals)}
        run_dir = Path(cfg["run_dir"])
        np.savez(run_dir / "predictions.npz", **{k: np.concatenate([p[k] for p in all_preds]) for k in ("gauc_key", "prob", "label")})
        torch.save({"model": inner.state_dict(), "spec": spec.to_dict(), "model_name": cfg["model"], "variant": cfg["variant"],
                    "config": inner.config.to_dict()}, run_dir / "model.pt")
        write_json(run_dir / "history.json", history)
        write_json(run_dir / "test_metrics.json", final)
        ray.train.report({"done": 1, **{f"test_{k}": v for k, v in final.items()}})
    else:
        ray.train.report({"done": 1})


def default_run_name(model: str, variant: str | None) -> str:
    """A run's folder name: the model, plus the Table 4 variant in a path-safe spelling."""
    return (model + (f"__{variant}" if variant else "")).replace("/", "-").replace(" ", "_").replace("*", "x")


def ranker_splits(dataset: DatasetConfig, early_stop: bool, materialize: bool = False) -> dict:
    """split name -> Ray Dataset of fixed-shape arrays (ToArrays over the split's Delta table).

    The validation split is only read with early stopping (each split costs a coordinator actor).
    `materialize` runs the read and transform once and keeps the arrays in the object store, so
    several runs (a comparison) share them instead of re-reading Delta every epoch.
    """
    import ray.data

    to_arrays = ToArrays(dataset.spec, dataset.user_column)
    # Datasets copy the DataContext when created: these run without Ray Data's progress bars, which
    # cost a measurable share of a small machine's CPU at every step; the loop logs progress instead.
    context = ray.data.DataContext.get_current()
    bars, context.enable_progress_bars = context.enable_progress_bars, False
    try:
        splits = {s: ray.data.read_delta(p, columns=to_arrays.columns()).map_batches(to_arrays, batch_format="pyarrow", batch_size=4096)
                  for s, p in dataset.tables.items() if s != "valid" or early_stop}
        return {s: d.materialize() for s, d in splits.items()} if materialize else splits
    finally:
        context.enable_progress_bars = bars


def run(lake: str, runs: str, config: TrainConfig, dataset: DatasetConfig | None = None, address: str | None = None,
        run_name: str | None = None, splits: dict | None = None, concurrent_runs: int = 1) -> dict:
    """Train and evaluate one ranker; returns its metrics record (also RUNS/<run>/metrics.json).

    `splits`: prepared datasets to share between runs (`ranker_splits`; default: stream the
    dataset's tables). `concurrent_runs`: how many runs share the cluster at once (compare
    --parallel); CPU requests and torch threads are divided between them.
    """
    import ray.train
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    init_ray(address)
    dataset = dataset or DatasetConfig.for_lake(lake)
    name = run_name or default_run_name(config.model, config.variant)
    run_dir = Path(runs, name)
    run_dir.mkdir(parents=True, exist_ok=True)
    splits = splits or ranker_splits(dataset, config.early_stop)
    cfg = {**asdict(config), "spec": dataset.spec.to_dict(), "run_dir": str(run_dir.resolve()), "splits": list(splits),
           "torch_threads": torch_threads(config.num_workers, config.use_gpu, concurrent_runs)}
    model = build_model(config.model, dataset.spec, config.overrides, config.variant)
    if model.lookups and dataset.item_features:
        cfg["item_vectors"] = load_item_vectors(dataset.item_features)
    recorded = {k: v for k, v in cfg.items() if k != "item_vectors"}  # the run's config without the vector tables
    write_json(run_dir / "config.json", recorded)
    t = time.time()
    storage = Path(runs, "ray_runs").resolve()
    trainer = TorchTrainer(
        train_loop, train_loop_config=cfg,
        scaling_config=ScalingConfig(num_workers=config.num_workers, use_gpu=config.use_gpu,
                                     resources_per_worker=worker_resources(config.num_workers, config.use_gpu, concurrent_runs)),
        run_config=RunConfig(name=name, storage_path=str(storage),
                             failure_config=FailureConfig(max_failures=config.max_failures),
                             checkpoint_config=CheckpointConfig(num_to_keep=2)),
        datasets=splits,
        dataset_config=ray.train.DataConfig(datasets_to_split="all"),
    )
    with train_run_storage(storage, name, recorded):
        result = trainer.fit()
    metrics = json.loads((run_dir / "test_metrics.json").read_text())
    record = {"run": name, "model": config.model, "variant": config.variant, "lake": str(Path(lake).resolve()),
              **metrics, "wall_seconds": round(time.time() - t, 1), "checkpoint": result.checkpoint.path if result.checkpoint else None,
              "config": {k: v for k, v in asdict(config).items() if k != "inject_failure_marker"}}
    write_json(run_dir / "metrics.json", record)
    _append_experiment(lake, record)
    return record


def load_trained(run_dir: str | Path, device: str = "cpu"):
    """(model in eval mode, spec, saved dict) from RUNS/<run>/model.pt; item vectors still to load."""
    from umair_models.models.registry import MODELS

    saved = torch.load(Path(run_dir, "model.pt"), map_location=device, weights_only=False)
    spec = FeatureSpec.from_dict(saved["spec"])
    cls = MODELS[saved["model_name"]]
    model = cls(spec, cls.config_class.from_dict(saved["config"]))
    model.load_state_dict(saved["model"], strict=False)
    return model.eval().to(device), spec, saved


def _append_experiment(lake: str, record: dict) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    row = {k: record.get(k) for k in ("run", "model", "variant", "auc", "logloss", "gauc", "parameters", "train_samples_per_s", "examples")}
    row["recorded_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    row["record"] = json.dumps(record, default=str)
    table = pa.table({k: [v] for k, v in row.items()}, schema=pa.schema([
        ("run", pa.string()), ("model", pa.string()), ("variant", pa.string()), ("auc", pa.float64()), ("logloss", pa.float64()),
        ("gauc", pa.float64()), ("parameters", pa.int64()), ("train_samples_per_s", pa.float64()), ("examples", pa.int64()),
        ("recorded_at", pa.string()), ("record", pa.string())]))
    write_deltalake(str(Path(lake, "experiments")), table, mode="append")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train and evaluate a ranker with Ray Train (DDP).")
    p.add_argument("--lake", required=True, help="lake root (experiments are appended to LAKE/experiments)")
    p.add_argument("--runs", required=True, help="runs folder; the run writes RUNS/<run>/")
    p.add_argument("--model", default="umair_fps", help="umair_fps, dcn, xdeepfm, fibinet, difm, dcn_v2, finalmlp")
    p.add_argument("--variant", default=None, help='UMAIR-FPS Table 4 variant, e.g. "w/o STY"')
    p.add_argument("--dataset", default=None, help="dataset YAML (default: our lake's interaction tables)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="model config override (YAML value)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--lr", type=float, default=1e-3)
    add_cluster_args(p)
    p.add_argument("--in-memory", action="store_true", help="hold each worker's shard in memory, shuffled globally per epoch "
                                                           "(small data; default: stream from Delta every epoch)")
    p.add_argument("--early-stop", action="store_true", help="stop when validation log loss stops improving")
    p.add_argument("--checkpoint-every", type=int, default=0, help="steps between mid-epoch checkpoints")
    p.add_argument("--run-name", default=None)
    return p


def parse_overrides(items: list[str]) -> dict:
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
        out[key] = yaml.safe_load(value)
    return out


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    a = build_parser().parse_args(argv)
    dataset = DatasetConfig.from_yaml(a.dataset, a.lake) if a.dataset else None
    config = TrainConfig(model=a.model, variant=a.variant, overrides=parse_overrides(a.set), epochs=a.epochs, batch_size=a.batch_size,
                         lr=a.lr, num_workers=a.num_workers, use_gpu=a.use_gpu, early_stop=a.early_stop, checkpoint_every=a.checkpoint_every,
                         in_memory=a.in_memory)
    r = run(a.lake, a.runs, config, dataset, a.address, a.run_name)
    print(f"{r['run']}: test AUC {r['auc']:.4f}, log loss {r['logloss']:.4f}, GAUC {r['gauc']:.4f}, "
          f"{r['parameters']:,} parameters, {r['train_samples_per_s']:.0f} train samples/s -> {Path(a.runs, r['run'])}/metrics.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
