"""A daily cycle on the demo site: history + N arriving days, one `umair cycle` per day, beside two
controls on the same lake each day: the same model trained from scratch, and the first champion never
retrained (stale). Time per stage, test AUC on each new day, what the gate decided.

    .venv/bin/python bench/daily_cycle.py [--workdir .umair/days] [--size demo] [--days 5]
        [--model dcn_v2] [--epochs 2] [--batch-size 512] [--tolerance 0.002]

Writes WORKDIR/daily_cycle.json and prints a table; the figures go to bench/README.md. Each day's
test split is that day alone (a few hundred examples on the demo site): AUCs of one day are noisy,
compare them across days and runs, not to a digit.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _results import save_result  # noqa: E402


def _umair(*args: str) -> float:
    """Run an `umair` Spark command in a child process; its wall seconds."""
    t = time.time()
    subprocess.run([str(ROOT / ".venv/bin/umair"), *args], check=True, stdout=subprocess.DEVNULL)
    return round(time.time() - t, 1)


def _landing_zone(raw: Path, landing: Path) -> None:
    """LANDING = RAW's history only (no date= partitions): the days are copied in as they arrive."""
    shutil.copytree(raw, landing, ignore=lambda _, names: [n for n in names if n.startswith("date=") or n == "images"])


def _arrive(raw: Path, landing: Path, day: str) -> None:
    for dataset in ("interactions", "users", "illustrations"):
        part = raw / dataset / f"date={day}"
        if part.is_dir():
            shutil.copytree(part, landing / dataset / part.name)


def main() -> int:
    from ray_apps.console import setup_console
    from ray_apps.lifecycle.cycle import cycle
    from ray_apps.lifecycle.gate import DEFAULT_TOLERANCE, score_run
    from ray_apps.ranker.config import TrainConfig
    from ray_apps.ranker.job import run as train
    from spark_jobs.landing import arrived_days
    from umair_models.metrics import auc

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workdir", type=Path, default=ROOT / ".umair" / "days")
    p.add_argument("--size", default="demo")
    p.add_argument("--days", type=int, default=5)
    p.add_argument("--model", default="dcn_v2")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument(
        "--tolerance", type=float, default=DEFAULT_TOLERANCE, help="the gate's tolerance (umair cycle --tolerance)"
    )
    a = p.parse_args()
    setup_console(announce=False)
    w = a.workdir
    shutil.rmtree(w, ignore_errors=True)
    raw, landing, lake, runs, scratch = w / "raw", w / "landing", w / "lake", w / "runs", w / "scratch"
    result: dict = {
        "size": a.size,
        "days": a.days,
        "model": a.model,
        "epochs": a.epochs,
        "batch_size": a.batch_size,
        "tolerance": a.tolerance,
    }
    result["generate_s"] = _umair("generate", "--size", a.size, "--out", str(raw), "--days", str(a.days), "--no-images")
    _landing_zone(raw, landing)
    result["prep_s"] = _umair("prep", "--raw", str(landing), "--lake", str(lake))
    config = TrainConfig(model=a.model, batch_size=a.batch_size, epochs=a.epochs, in_memory=True, num_workers=1)

    first = cycle(str(lake), str(runs), config)  # the first champion, from scratch on the history
    stale = first["challenger"]
    result["history"] = {"auc": first["challenger_auc"], "seconds": first["seconds"]}
    result["per_day"] = []
    for day in arrived_days(str(raw)):
        _arrive(raw, landing, day)
        t = time.time()
        r = cycle(str(lake), str(runs), config, raw=str(landing), tolerance=a.tolerance)
        total = round(time.time() - t, 1)
        t = time.time()
        fresh = train(str(lake), str(scratch), config, run_name=f"scratch__{day}")
        probs, labels = score_run(stale, lake)
        row = {
            "day": day,
            "cycle_s": total,
            "stage_s": r["seconds"],
            "warm_auc": r["challenger_auc"],
            "scratch_auc": fresh["auc"],
            "scratch_train_s": round(time.time() - t, 1),
            "stale_auc": auc(probs, labels),
            "test_rows": int(len(labels)),
            "gate": r["gate"]["reason"] if "gate" in r else None,
            "outcome": r["outcome"],
        }
        result["per_day"].append(row)
        print(
            f"{day}: cycle {total:.0f} s {r['seconds']}; AUC warm {row['warm_auc']:.4f} scratch {row['scratch_auc']:.4f} "
            f"stale {row['stale_auc']:.4f} on {row['test_rows']} rows; {r['outcome']}: {row['gate']}",
            flush=True,
        )
    save_result(result, w / "daily_cycle.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
