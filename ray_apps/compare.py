"""Train UMAIR-FPS, the six baselines and the Table 4 variants on the same splits and budget.

    umair compare --lake LAKE --out RUNS [--models all] [--variants all|none|"w/o STY,w/o SEM"] [--raw RAW]

Every run gets the same TrainConfig (epochs, batch size, optimizer, seed) apart from the model;
no per-model tuning. Finished runs (RUNS/<run>/metrics.json) trained with the same budget are
skipped unless --force.
Writes RUNS/report.md and charts at the end (see ray_apps.report).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ray_apps.common import add_cluster_args, log, setup_logging
from ray_apps.train_ranker import TrainConfig, run
from ray_apps.train_ranker import default_run_name as run_name
from umair_models.models.registry import BASELINES
from umair_models.models.umair_fps import VARIANTS

QUICK_VARIANTS = ("w/o ALL", "w/o STY", "w/o SEM", "w/o TSEM", "w/o UMCM", "w/ UMCM_ATT", "w/ UMCM_SEN", "w/o DCN-V2")


def plan(models: list[str], variants: list[str]) -> list[tuple[str, str | None]]:
    return [(m, None) for m in models] + [("umair_fps", v) for v in variants if v != "w/ ATT*3"]  # ATT*3 is the default


BUDGET_KEYS = ("model", "variant", "overrides", "epochs", "batch_size", "lr", "seed", "early_stop")


def _same_budget(saved: dict, cfg: TrainConfig) -> bool:
    """Whether a finished run was trained with the same model and budget as `cfg` (else retrain it)."""
    return all(saved.get(k) == getattr(cfg, k) for k in BUDGET_KEYS)


def compare(lake: str, out: str, models: list[str], variants: list[str], base: TrainConfig, force: bool = False,
            address: str | None = None) -> list[dict]:
    results = []
    for i, (model, variant) in enumerate(plan(models, variants), 1):
        name = run_name(model, variant)
        cfg = TrainConfig(**{**base.__dict__, "model": model, "variant": variant})
        done = Path(out, name, "metrics.json")
        previous = json.loads(done.read_text()) if done.exists() and not force else None
        if previous and _same_budget(previous.get("config", {}), cfg):
            log.info("[%d] %s: already trained with this budget, skipped (use --force)", i, name)
            results.append(previous)
            continue
        r = run(lake, out, cfg, address=address, run_name=name)
        print(f"[{i}] {name:<28} AUC {r['auc']:.4f}  log loss {r['logloss']:.4f}  ({r['wall_seconds']} s)", flush=True)
        results.append(r)
    return results


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
    compare(a.lake, a.out, models, parse_variants(a.variants), base, a.force, a.address)
    report = write_report(a.out, a.raw)
    print(f"report: {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
