"""Train UMAIR-FPS, the six baselines and the Table 4 variants on the same splits and budget.

    umair compare --lake LAKE --out RUNS [--models all] [--variants all|none|"w/o STY,w/o SEM"] [--raw RAW] [--parallel 2]
                  [any `umair train` budget flag: --epochs, --batch-size, --lr, --seed, ...] [--config compare.yaml]

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
from dataclasses import dataclass, replace
from pathlib import Path

from ray_apps.ranker.config import TrainConfig
from ray_apps.ranker.config import default_run_name as run_name
from ray_apps.ranker.data import DatasetConfig, ranker_splits
from ray_apps.ranker.job import run
from ray_apps.runtime import init_ray, log, setup_console
from ray_apps.settings import add_address_flag, add_config_file_flag, add_config_flags, config_from_args, setting
from umair_models.models.registry import BASELINES
from umair_models.models.umair_fps import VARIANTS

QUICK_VARIANTS = ("w/o ALL", "w/o STY", "w/o SEM", "w/o TSEM", "w/o UMCM", "w/ UMCM_ATT", "w/ UMCM_SEN", "w/o DCN-V2")


def plan(models: list[str], variants: list[str]) -> list[tuple[str, str | None]]:
    return [(m, None) for m in models] + [("umair_fps", v) for v in variants if v != "w/ ATT*3"]  # ATT*3 is the default


@dataclass
class CompareConfig:
    """What a comparison trains (the budget each run gets is a TrainConfig)."""

    models: str = setting("all", "comma list of models, or 'all' (UMAIR-FPS + the six baselines)")
    variants: str = setting("quick", "UMAIR-FPS ablations: 'all', 'quick' (the main ones), 'none' or a comma list")
    raw: str | None = setting(None, "raw landing zone of a sample site, for the oracle AUC row of the report")
    force: bool = setting(False, "retrain runs that already have metrics")
    parallel: int = setting(1, "runs that train at once, sharing the cluster")
    cache_splits: bool | None = setting(
        None, "read the splits once into Ray's object store and each worker's memory (default: when they fit in 2 GiB)"
    )

    def model_list(self) -> list[str]:
        return (
            ["umair_fps", *BASELINES]
            if self.models == "all"
            else [m.strip() for m in self.models.split(",") if m.strip()]
        )


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
    known = [b for b in sizes if b is not None]
    return len(known) == len(sizes) and sum(known) <= CACHE_LIMIT_BYTES


def compare(
    lake: str,
    out: str,
    models: list[str],
    variants: list[str],
    base: TrainConfig,
    force: bool = False,
    address: str | None = None,
    cache_splits: bool | None = None,
    parallel: int = 1,
) -> list[dict]:
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
        splits = ranker_splits(dataset, with_valid=base.early_stop, materialize=True)
        log.info(
            "splits cached in the object store for every run: %s",
            ", ".join(f"{s} {d.count():,} rows ({d.size_bytes() / 2**20:.0f} MiB)" for s, d in splits.items()),
        )
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
    p = argparse.ArgumentParser(
        description="Compare UMAIR-FPS, the baselines and the ablations on one lake (one budget for all)."
    )
    p.add_argument("--lake", required=True)
    p.add_argument("--out", required=True, help="runs folder (one sub-folder per model / variant)")
    add_config_flags(p, CompareConfig)
    add_config_flags(p, TrainConfig, skip=("model", "variant", "overrides", "in_memory"))
    add_config_file_flag(p, "compare")
    add_address_flag(p)
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
    from ray_apps.ranker.report import write_report

    a = build_parser().parse_args(argv)
    setup_console()
    what = config_from_args(CompareConfig, a, "compare", shared_with=(TrainConfig,))
    base = config_from_args(TrainConfig, a, "compare", shared_with=(CompareConfig,))
    compare(
        a.lake,
        a.out,
        what.model_list(),
        parse_variants(what.variants),
        base,
        what.force,
        a.address,
        what.cache_splits,
        what.parallel,
    )
    report = write_report(a.out, what.raw)
    print(f"report: {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
