"""One day's cycle: ingest -> a warm-started challenger -> the gate -> promotion, a line per stage.

    umair cycle --raw RAW --lake LAKE --runs RUNS [--model dcn_v2 --epochs 2 ...] [--address auto]
    umair cycle --lake LAKE --runs RUNS ...      # the data team's spark-submit already ingested

Stages:
  1 ingest      `umair ingest` in a child process (Spark), skipped without --raw or when no day
                arrived that the lake has not taken in (a listing, no Spark process);
  2 challenger  `umair train` warm-started from the champion (from scratch when there is none), named
                <model>__<newest ingested day>; nothing is trained when a run of the same model
                in RUNS was trained on the lake as it is (no new data: said so, exit 0);
  3 gate        the challenger against the champion on the lake's test split (the newest day);
  4 promote     when the gate accepts (or there is no champion yet): the alias moves and, with
                --address, the endpoint swaps in place. A rejection is recorded and said; the
                champion keeps serving (exit 0: a rejected challenger is the gate working).
The whole cycle holds RUNS/lifecycle.lock, so a promotion or another cycle meanwhile is refused.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

from ray_apps.artifacts import read_json, write_json
from ray_apps.console import setup_console
from ray_apps.lifecycle import registry
from ray_apps.lifecycle.gate import DEFAULT_TOLERANCE, gate
from ray_apps.lifecycle.lock import LockHeldError, lifecycle_lock
from ray_apps.lifecycle.promote import PromotionRefused, promote_holding_lock
from ray_apps.ranker.config import TrainConfig, add_train_flags, default_run_name, train_config_from
from spark_jobs.landing import arrived_days
from umair_models import storage
from umair_models.warm_start import WarmStartError

STAGES = 4


class IngestFailed(RuntimeError):
    """The cycle's ingest step exited non-zero (it restored the lake; nothing was trained)."""


def _say(stage: int, name: str, text: str, t0: float, record: dict | None = None) -> None:
    """One console line per stage; `record["seconds"][name]`: the stage's own duration."""
    now = time.time()
    if record is not None:
        seconds = record.setdefault("seconds", {})
        seconds[name] = round(max(0.0, now - t0 - sum(seconds.values())), 1)
    print(f"cycle {stage}/{STAGES} {name:<10} {text}  [{now - t0:.0f} s]", flush=True)


def run_ingest(raw: str, lake: str, prep_config: str | None) -> list[str]:
    """`umair ingest` as a child process (Spark stays out of this Ray driver); its console lines."""
    cmd = [sys.executable, "-m", "spark_jobs.ingest", "--raw", raw, "--lake", lake]
    cmd += ["--config", prep_config] if prep_config else []
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0:
        tail = "\n".join((lines + done.stderr.splitlines())[-15:])
        raise IngestFailed(f"ingest failed (exit {done.returncode}); no table changed:\n{tail}")
    return lines


def ingested_days(lake: str) -> list[str]:
    """The days LAKE/ingest_log records, oldest first (none before the first ingest)."""
    from ray_apps.lake import read_table

    path = storage.join(lake, "ingest_log")
    if not storage.is_delta_table(path):
        return []
    return sorted(read_table(path, ["date"]).column("date").to_pylist())


def newest_day(lake: str) -> str | None:
    days = ingested_days(lake)
    return days[-1] if days else None


def days_to_ingest(raw: str, lake: str) -> list[str] | None:
    """The days under RAW the lake has not taken in, read from the listing and LAKE/ingest_log without
    starting Spark; None when LAKE is no lake yet (ingest itself says so)."""
    if not storage.is_delta_table(storage.join(lake, "vocab")):
        return None
    done = set(ingested_days(lake))
    return [d for d in arrived_days(raw) if d not in done]


def already_trained(runs: str, config: TrainConfig, inputs: dict) -> str | None:
    """A run in RUNS of the same model and variant whose inputs (table versions, spec) are `inputs`."""
    for metrics in sorted(Path(runs).glob("*/metrics.json")) if Path(runs).is_dir() else []:
        r = read_json(str(metrics))
        if (r.get("model"), r.get("variant"), r.get("inputs")) == (config.model, config.variant, inputs):
            return str(metrics.parent)
    return None


def _run_name(runs: str, config: TrainConfig, day: str | None) -> str:
    base = f"{default_run_name(config.model, config.variant)}__{day or time.strftime('%Y%m%dT%H%M%S')}"
    name, k = base, 2
    while storage.exists(storage.join(runs, name, "metrics.json")):  # a cycle run again on the same day
        name, k = f"{base}-{k}", k + 1
    return name


def cycle(
    lake: str,
    runs: str,
    config: TrainConfig,
    raw: str | None = None,
    prep_config: str | None = None,
    address: str | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> dict:
    """Run the four stages; returns what each decided (also RUNS/<challenger>/cycle.json)."""
    from ray_apps.ranker.data import DatasetConfig
    from ray_apps.ranker.job import run as train

    runs, t0 = storage.absolute(runs), time.time()
    record: dict = {"lake": storage.absolute(lake), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with lifecycle_lock(runs, "cycle"):
        pending = days_to_ingest(raw, lake) if raw else None
        if raw and pending == []:  # a quiet day costs no Spark process
            record["ingest"] = [f"no day under {raw} that the lake has not taken in"]
            _say(1, "ingest", f"0 new day(s): {record['ingest'][0]}", t0, record)
        elif raw:
            lines = run_ingest(raw, lake, prep_config)
            record["ingest"] = lines
            taken = [line for line in lines if line.startswith("Day ") and "skipped" not in line]
            _say(1, "ingest", f"{len(taken)} new day(s) taken in; " + (taken[-1] if taken else lines[-1]), t0, record)
        else:
            _say(1, "ingest", "skipped (no --raw: the lake is ingested by its own spark-submit)", t0, record)
        current = registry.champion(runs)
        record["champion_before"] = current[1] if current else None
        trained = already_trained(runs, config, DatasetConfig.for_lake(lake).fingerprint())
        if trained:
            _say(2, "challenger", f"nothing new: {trained} was trained on the lake as it is; done", t0, record)
            return {**record, "outcome": "no new data", "trained": trained}

        day = newest_day(lake)
        name = _run_name(runs, config, day)
        challenger_config = replace(config, init_from=current[1] if current else None)
        result = train(lake, runs, challenger_config, address=address, run_name=name)
        challenger = storage.join(runs, name)
        how = f"warm-started from {current[1]}" if current else "from scratch (no champion yet)"
        _say(
            2,
            "challenger",
            f"{challenger} {how}: test AUC {result['auc']:.4f}, log loss {result['logloss']:.4f}",
            t0,
            record,
        )
        record.update(challenger=challenger, day=day, challenger_auc=result["auc"])

        if current:
            decision = gate(current[1], challenger, lake, tolerance=tolerance)
            record["gate"] = asdict(decision)
            verdict = "PROMOTE" if decision.promote else "REJECT"
            _say(
                3,
                "gate",
                f"{verdict} on {decision.rows:,} test rows of {day or 'the test split'}: {decision.reason}",
                t0,
                record,
            )
            if not decision.promote:
                _say(4, "promote", f"not promoted; {current[1]} keeps serving (recorded in the registry)", t0, record)
                record["outcome"] = "rejected"
                write_json(storage.join(challenger, "cycle.json"), record)
                return record
        else:
            _say(3, "gate", "no champion to compare with: the first run becomes the champion", t0, record)
        move = promote_holding_lock(challenger, lake if address else None, address)  # swap only on a named cluster
        _say(
            4,
            "promote",
            f"champion -> version {move.after[0]} ({challenger}); endpoint swapped: {move.swapped}",
            t0,
            record,
        )
        record.update(outcome="promoted", version=move.after[0], swapped=move.swapped)
        write_json(storage.join(challenger, "cycle.json"), record)
        return record


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="One day's cycle: ingest, warm-started challenger, gate, promotion.")
    p.add_argument("--lake", required=True, help="the lake (built by umair prep)")
    p.add_argument("--runs", required=True, help="runs folder holding the registry and the champion")
    p.add_argument("--raw", default=None, help="landing zone to ingest first (omit when spark-submit ingests)")
    p.add_argument("--prep-config", default=None, help="the prep YAML the lake was built with (for ingest)")
    p.add_argument(
        "--tolerance", type=float, default=DEFAULT_TOLERANCE, help="how much worse the gate lets a challenger be"
    )
    add_train_flags(p, skip=("init_from",))
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    setup_console()
    config = train_config_from(a)
    try:
        r = cycle(a.lake, a.runs, config, a.raw, a.prep_config, a.address, a.tolerance)
    except (LockHeldError, PromotionRefused, registry.RegistryError) as e:
        print(f"cycle: REFUSED: {e}")
        return 3
    except WarmStartError as e:
        print(
            f"cycle: the champion cannot warm-start this challenger ({e}); train it from scratch or change the settings"
        )
        return 2
    except IngestFailed as e:
        print(f"cycle: {e}")
        return 2
    print(f"cycle: {r['outcome']}" + (f"; record {Path(r['challenger'], 'cycle.json')}" if "challenger" in r else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
