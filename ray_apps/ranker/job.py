"""Ray Train: train and evaluate a ranker (UMAIR-FPS or a baseline) with DDP.

    python -m ray_apps.ranker.job --lake LAKE --runs RUNS [--model umair_fps] [--variant "w/o STY"]
                                  [--dataset dataset.yaml] [--num-workers 2] [--use-gpu] [--config train.yaml]
    umair train --lake LAKE --runs RUNS --model dcn_v2

Data streams from Delta through Ray Data (read_delta -> fixed-shape arrays -> per-worker shards ->
iter_torch_batches with local shuffle and prefetch), or each worker holds its shard in memory
(--in-memory). Item vectors are a frozen table loaded once per worker. Each worker runs
`ray_apps.ranker.worker` (with the plain functions of `ray_apps.ranker.loop`), handed a typed
RankerWork. After training: exact test AUC / log loss over all workers' shards, GAUC, parameter count,
samples/s -> RUNS/<run>/metrics.json, predictions, model.safetensors + model.json, a row appended
to LAKE/experiments (Delta) and an MLflow run with the run's lineage (ray_apps.lifecycle.registry).
--init-from RUN starts from a trained run's weights (a warm start; refused before training when the
run does not fit).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, replace
from typing import Any, Literal

from ray_apps.artifacts import read_json, write_json
from ray_apps.console import log, progress_file, setup_console
from ray_apps.lifecycle import registry
from ray_apps.ranker.config import TrainConfig, add_train_flags, default_run_name, train_config_from
from ray_apps.ranker.data import DatasetConfig, ranker_splits
from ray_apps.ranker.warm_start import warm_state
from ray_apps.ranker.worker import RankerWork, train_loop_per_worker
from ray_apps.runtime import init_ray
from ray_apps.trainer import TrainerSpec, fit_trainer
from umair_models import storage
from umair_models.models.registry import build_model
from umair_models.warm_start import WarmStartError


def run(
    lake: str,
    runs: str,
    config: TrainConfig,
    dataset: DatasetConfig | None = None,
    address: str | None = None,
    run_name: str | None = None,
    splits: dict | None = None,
    concurrent_runs: int = 1,
) -> dict:
    """Train and evaluate one ranker; returns its metrics record (also RUNS/<run>/metrics.json).

    `splits`: prepared datasets to share between runs (`ranker_splits`; default: stream the
    dataset's tables). `concurrent_runs`: how many runs share the cluster at once (compare
    --parallel); CPU requests and torch threads are divided between them.
    """

    init_ray(address)
    dataset = dataset or DatasetConfig.for_lake(lake)
    name = run_name or default_run_name(config.model, config.variant)
    run_dir = storage.join(storage.absolute(runs), name)  # workers elsewhere get absolute locations
    storage.make_dirs(run_dir)
    splits = splits or ranker_splits(dataset, with_valid=config.early_stop)
    recorded: dict[str, Any] = {
        "config": asdict(config),
        "spec": dataset.spec.to_dict(),
        "run_dir": run_dir,
        "splits": list(splits),
        "inputs": dataset.fingerprint(),
    }
    model = build_model(
        config.model, dataset.spec, config.overrides, config.variant
    )  # a bad config fails here, not in a worker
    if config.init_from:  # and a warm start that does not fit
        parent = storage.absolute(config.init_from)
        config = replace(config, init_from=parent)
        report = warm_state(parent, model, config.model, config.variant)[1]
        log.info(
            "warm start from %s: %d tensors copied, %d tables grown by %d new rows",
            parent, report.copied, report.grown, report.new_rows,
        )  # fmt: skip
    items = dataset.item_features
    work = RankerWork(
        config,
        dataset.spec,
        run_dir,
        list(splits),
        replace(items, table=storage.absolute(items.table)) if model.lookups and items else None,
    )
    write_json(
        storage.join(run_dir, "config.json"),
        {**recorded["config"], **{k: v for k, v in recorded.items() if k != "config"}},
    )
    t = time.time()
    spec = TrainerSpec(
        name,
        storage.join(storage.absolute(runs), "ray_runs"),
        config.num_workers,
        config.use_gpu,
        config.max_failures,
        concurrent_runs=concurrent_runs,
        ordered=config.in_memory,
        extra_resources=config.worker_resources,
        placement=config.placement,  # held shards: one seed, one order, the same run
    )
    # Held in memory, each worker takes its rows of the whole ordered split (loop.epoch_batches), so Ray Train
    # shards only the evaluation splits.
    sharded: Literal["all"] | list[str] = [str(s) for s in splits if s != "train"] if config.in_memory else "all"
    progress = progress_file(run_dir, "progress.log" if not storage.is_remote(run_dir) else f"{name}.progress.log")
    result = fit_trainer(train_loop_per_worker, {"work": work}, spec, splits, recorded, progress, sharded)
    metrics = read_json(storage.join(run_dir, "test_metrics.json"))
    record = {
        "run": name,
        "model": config.model,
        "variant": config.variant,
        "lake": storage.absolute(lake),
        **metrics,
        "wall_seconds": round(time.time() - t, 1),
        "checkpoint": result.checkpoint.path if result.checkpoint else None,
        "inputs": recorded["inputs"],
        "config": {k: v for k, v in asdict(config).items() if k != "inject_failure_marker"},
    }
    write_json(storage.join(run_dir, "metrics.json"), record)
    append_experiment(lake, record)
    record["mlflow_run_id"] = registry.record_run(runs, run_dir, record, parent=config.init_from)
    return record


EXPERIMENT_COLUMNS = (
    "run",
    "model",
    "variant",
    "auc",
    "logloss",
    "gauc",
    "parameters",
    "train_samples_per_s",
    "examples",
)


def append_experiment(lake: str, record: dict) -> None:
    """One row per finished run in LAKE/experiments (Delta): the headline metrics and the whole record as JSON."""
    import pyarrow as pa
    from deltalake import write_deltalake

    row = {k: record.get(k) for k in EXPERIMENT_COLUMNS}
    row["recorded_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    row["record"] = json.dumps(record, default=str)
    table = pa.table(
        {k: [v] for k, v in row.items()},
        schema=pa.schema(
            [
                ("run", pa.string()),
                ("model", pa.string()),
                ("variant", pa.string()),
                ("auc", pa.float64()),
                ("logloss", pa.float64()),
                ("gauc", pa.float64()),
                ("parameters", pa.int64()),
                ("train_samples_per_s", pa.float64()),
                ("examples", pa.int64()),
                ("recorded_at", pa.string()),
                ("record", pa.string()),
            ]
        ),
    )
    write_deltalake(storage.join(lake, "experiments"), table, mode="append")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train and evaluate a ranker with Ray Train (DDP).")
    p.add_argument("--lake", required=True, help="lake root (experiments are appended to LAKE/experiments)")
    p.add_argument("--runs", required=True, help="runs folder; the run writes RUNS/<run>/")
    p.add_argument("--dataset", default=None, help="dataset YAML (default: our lake's interaction tables)")
    p.add_argument("--run-name", default=None, help="the run's folder name (default: model[__variant])")
    add_train_flags(p)
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    setup_console()
    config = train_config_from(a)
    dataset = DatasetConfig.from_yaml(a.dataset, a.lake) if a.dataset else None
    log.info(
        "train %s: %s", config.run_label(), {k: v for k, v in asdict(config).items() if k != "inject_failure_marker"}
    )
    try:
        r = run(a.lake, a.runs, config, dataset, a.address, a.run_name)
    except WarmStartError as e:
        print(f"train: cannot warm-start from {config.init_from}: {e}")
        return 2
    print(
        f"{r['run']}: test AUC {r['auc']:.4f}, log loss {r['logloss']:.4f}, GAUC {r['gauc']:.4f}, "
        f"{r['parameters']:,} parameters, {r['train_samples_per_s']:.0f} train samples/s "
        f"-> {storage.join(a.runs, r['run'], 'metrics.json')}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
