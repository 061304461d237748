"""Train UMAIR-FPS, the six baselines and the Table 4 variants on the same splits and budget.

    umair compare --lake LAKE --out RUNS [--models all] [--variants all|none|"w/o STY,w/o SEM"] [--raw RAW] [--parallel 2]

Every run gets the same TrainConfig (epochs, batch size, optimizer, seed) apart from the model;
no per-model tuning. Small splits (up to 2 GiB as arrays) are read from Delta once and cached for
all runs (--cache-splits / --no-cache-splits decide it). Finished runs (RUNS/<run>/metrics.json)
trained with the same budget are skipped unless --force. --parallel N trains N runs at once.
Writes RUNS/report.md and charts at the end (see ray_apps.report).
"""
from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from ray_apps.common import add_cluster_args, init_ray, log, setup_logging
from ray_apps.ranker_data import DatasetConfig
from ray_apps.train_ranker import TrainConfig, ranker_splits, run
from ray_apps.train_ranker import default_run_name as run_name
from umair_models.models.registry import BASELINES
from umair_models.models.umair_fps import VARIANTS

QUICK_VARIANTS = ("w/o ALL", "w/o STY", "w/o SEM", "w/o TSEM", "w/o UMCM", "w/ UMCM_ATT", "w/ UMCM_SEN", "w/o DCN-V2")


def plan(models: list[str], variants: list[str]) -> list[tuple[str, str | None]]:
    return [(m, None) for m in models] + [("umair_fps", v) for v in variants if v != "w/ ATT*3"]  # ATT*3 is the default


BUDGET_KEYS = ("model", "variant", "overrides", "epochs", "batch_size", "lr", "seed", "early_stop", "in_memory")
CACHE_LIMIT_BYTES = 2 * 2**30  # splits up to this size (as arrays) are cached for all runs by default


def _same_budget(saved: dict, cfg: TrainConfig) -> bool:
    """Whether a finished run was trained with the same model and budget as `cfg` (else retrain it)."""
    return all(saved.get(k) == getattr(cfg, k) for k in BUDGET_KEYS)


def should_cache(dataset: DatasetConfig, cache_splits: bool | None) -> bool:
    """`cache_splits` if given, else whether every split's arrays fit in CACHE_LIMIT_BYTES."""
    if cache_splits is not None:
        return cache_splits
    sizes = [dataset.array_bytes(s) for s in dataset.tables]
    return all(b is not None for b in sizes) and sum(sizes) <= CACHE_LIMIT_BYTES


def compare(lake: str, out: str, models: list[str], variants: list[str], base: TrainConfig, force: bool = False,
            address: str | None = None, cache_splits: bool | None = None, parallel: int = 1) -> list[dict]:
    """Train every (model, variant) of the plan on the lake's splits; returns their metrics records in plan order.

    Cached splits (`cache_splits`; default: when they fit in CACHE_LIMIT_BYTES) are read from Delta
    and turned into arrays once, kept in Ray's object store and shared by every run, and each
    worker holds its shard in memory (TrainConfig.in_memory) instead of re-reading it every epoch:
    the runs spend the CPU on training. Otherwise every run streams its splits from Delta.
    `parallel` runs train at once, sharing the cluster's CPUs (one run's start-up and evaluation
    overlap another's training; on 2 cores two single-threaded runs out-train one two-threaded run).
    """
    dataset = DatasetConfig.for_lake(lake)
    cache = should_cache(dataset, cache_splits)
    base = replace(base, in_memory=cache)
    results: dict[int, dict] = {}
    todo: list[tuple[int, str, TrainConfig]] = []
    for i, (model, variant) in enumerate(plan(models, variants), 1):
        name = run_name(model, variant)
        cfg = replace(base, model=model, variant=variant)
        done = Path(out, name, "metrics.json")
        previous = json.loads(done.read_text()) if done.exists() and not force else None
        if previous and _same_budget(previous.get("config", {}), cfg):
            log.info("[%d] %s: already trained with this budget, skipped (use --force)", i, name)
            results[i] = previous
        else:
            todo.append((i, name, cfg))
    if not todo:
        return [results[i] for i in sorted(results)]
    init_ray(address)
    splits = None
    if cache:
        splits = ranker_splits(dataset, base.early_stop, materialize=True)
        log.info("splits cached in the object store for every run: %s", ", ".join(
            f"{s} {d.count():,} rows ({d.size_bytes() / 2**20:.0f} MiB)" for s, d in splits.items()))
    concurrent = max(1, min(parallel, len(todo)))

    def train(item: tuple[int, str, TrainConfig]) -> None:
        i, name, cfg = item
        r = run(lake, out, cfg, dataset, address=address, run_name=name, splits=splits, concurrent_runs=concurrent)
        print(f"[{i}] {name:<28} AUC {r['auc']:.4f}  log loss {r['logloss']:.4f}  ({r['wall_seconds']} s)", flush=True)
        results[i] = r

    with ThreadPoolExecutor(concurrent, thread_name_prefix="compare") as pool:
        for future in [pool.submit(train, item) for item in todo]:
            future.result()  # the first failure is raised once the runs in flight have finished
    return [results[i] for i in sorted(results)]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Compare UMAIR-FPS, the baselines and the ablations on one lake.")
    p.add_argument("--lake", required=True)
    p.add_argument("--out", required=True, help="runs folder (one sub-folder per model / variant)")
    p.add_argument("--models", default="all", help="comma list or 'all' (UMAIR-FPS + the six baselines)")
    p.add_argument("--variants", default="quick", help="'all', 'quick' (the main ablations), 'none' or a comma list")
    p.add_argument("--raw", default=None, help="raw landing zone of a sample site, for the oracle AUC row")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=256)
    add_cluster_args(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="retrain runs that already have metrics")
    p.add_argument("--parallel", type=int, default=1, help="runs that train at once, sharing the cluster (default 1)")
    cache = p.add_mutually_exclusive_group()
    cache.add_argument("--cache-splits", dest="cache_splits", action="store_true", default=None,
                       help="read the splits once, keep them in Ray's object store and in each worker's memory "
                            f"(default: when they fit in {CACHE_LIMIT_BYTES // 2**30} GiB)")
    cache.add_argument("--no-cache-splits", dest="cache_splits", action="store_false", help="stream every run's splits from Delta")
    return p


def parse_variants(text: str) -> list[str]:
    if text == "all":
        return list(VARIANTS)
    if text == "quick":
        return list(QUICK_VARIANTS)
    if text == "none":
        return []
    chosen = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in chosen if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    from ray_apps.report import write_report

    setup_logging()
    a = build_parser().parse_args(argv)
    models = ["umair_fps", *BASELINES] if a.models == "all" else [m.strip() for m in a.models.split(",")]
    base = TrainConfig(epochs=a.epochs, batch_size=a.batch_size, num_workers=a.num_workers, use_gpu=a.use_gpu, seed=a.seed)
    compare(a.lake, a.out, models, parse_variants(a.variants), base, a.force, a.address, a.cache_splits, a.parallel)
    report = write_report(a.out, a.raw)
    print(f"report: {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
