"""Train UMAIR-FPS, the six baselines and the Table 4 variants on the same splits and budget.

    umair compare --lake LAKE --out RUNS [--models all] [--variants all|none|"w/o STY,w/o SEM"] [--raw RAW]
                  [--seeds 3] [--controls dcn_v2|all|none] [--tuned TUNED] [--dataset dataset.yaml] [--parallel 2]
                  [--oracle-vectors umair_fps,dcn_v2 (with --raw)] [--random-modality umair_fps,dcn_v2]
                  [any `umair train` budget flag: --epochs, --early-stop, --lr, --seed, ...] [--config compare.yaml]

Every run gets the same TrainConfig (epochs, batch size, optimizer, protocol, seed) apart from the
model; `--tuned DIR` gives each model the settings `umair tune` found for it with the same search
budget. `--seeds N` trains every run N times (seeds seed .. seed+N-1; the report gives mean ± sd).
`--controls` adds `+MM` rows: baselines given the item vectors as extra fields, so the report can
tell "more inputs" from "better fusion"; `--oracle-vectors` (a sample site only) trains the models it
names once more on each item's true attributes as item vectors, so the report can tell what the
encoders lose from what the rankers lose; `--random-modality` trains the models it names once more
with one more item vector that is noise, so the report can show whether vectors can only help.
Small splits (up to 2 GiB as arrays) are read from Delta once and cached for all runs. A finished
run (RUNS/<run>/metrics.json) is reused only when its budget and its inputs (the Delta versions of
the splits and item vectors, the feature spec) are the same, unless --force. One compare at a time
writes to a runs folder (a lock file; a second one refuses). --parallel N trains N runs at once.
Writes RUNS/report.md and charts at the end.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from ray_apps.artifacts import RANKER_FILE
from ray_apps.console import log, setup_console
from ray_apps.ranker.config import CONTROL, TrainConfig
from ray_apps.ranker.data import DatasetConfig, ranker_splits
from ray_apps.ranker.job import run
from ray_apps.ranker.oracle_vectors import SUFFIX as ORACLE_SUFFIX
from ray_apps.ranker.oracle_vectors import NoOracleError, write_oracle_vectors
from ray_apps.ranker.plan import CompareConfig, load_tuned, parse_variants, plan
from ray_apps.ranker.random_modality import SUFFIX as RANDOM_SUFFIX
from ray_apps.ranker.random_modality import write_random_modality
from ray_apps.runtime import init_ray
from ray_apps.settings import add_address_flag, add_config_file_flag, add_config_flags, config_from_args

# Settings that change how a run executes, not what it learns: a finished run is reused across them.
RUNTIME_KEYS = (
    "use_gpu",
    "checkpoint_every",
    "max_failures",
    "log_every_s",
    "inject_failure_marker",
    "eval_batch_size",
    "worker_resources",
    "placement",
)
CACHE_LIMIT_BYTES = 2 * 2**30  # splits up to this size (as arrays) are cached for all runs by default


def reusable(previous: dict[str, Any], cfg: TrainConfig, inputs: dict[str, Any], run_dir: Path) -> str | None:
    """Why a finished run (its metrics record, its folder) must be retrained for `cfg` on `inputs`; None if it
    can be reused."""
    if not Path(run_dir, RANKER_FILE).exists():
        return f"no {RANKER_FILE} (written by an older version, or removed)"
    saved = previous.get("config", {})
    changed = [k for k, v in asdict(cfg).items() if k not in RUNTIME_KEYS and saved.get(k) != v]
    if changed:
        return f"budget changed ({', '.join(changed)})"
    if previous.get("inputs") != inputs:
        return "its inputs changed (split / item_features table versions or the feature spec)"
    return None


def should_cache(dataset: DatasetConfig, cache_splits: bool | None) -> bool:
    """`cache_splits` if given, else whether every split's arrays fit in CACHE_LIMIT_BYTES."""
    if cache_splits is not None:
        return cache_splits
    sizes = [dataset.array_bytes(s) for s in dataset.tables]
    known = [b for b in sizes if b is not None]
    return len(known) == len(sizes) and sum(known) <= CACHE_LIMIT_BYTES


class RunsFolderBusy(SystemExit):
    """Another compare holds the runs folder's lock."""


@contextmanager
def runs_folder_lock(out: str | Path) -> Iterator[None]:
    """Hold RUNS/.compare.lock (an flock: released when the process ends, even by a crash) while writing to RUNS.

    A second compare on the same folder refuses at once, naming the holder. flock is reliable on
    local disks; on a shared network file system give each compare its own --out.
    """
    Path(out).mkdir(parents=True, exist_ok=True)
    path = Path(out, ".compare.lock")
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the body's duration
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown process"
            raise RunsFolderBusy(
                f"{Path(out).resolve()} is being written by another compare ({holder}); "
                "wait for it to finish, or give this one another --out"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # releases the lock


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
    controls: Sequence[str] = (),
    seeds: list[int] | None = None,
    tuned: dict[str, dict[str, Any]] | None = None,
    dataset: DatasetConfig | None = None,
    oracle: Sequence[str] = (),
    raw: str | None = None,
    random_modality: Sequence[str] = (),
) -> list[dict]:
    """Train every run of the plan on the dataset's splits (default: the lake's); returns their metrics records in plan order.

    Cached splits (`cache_splits`; default: when they fit in CACHE_LIMIT_BYTES) are read from Delta
    and turned into arrays once, kept in Ray's object store and shared by every run, and each
    worker holds its shard in memory (TrainConfig.in_memory) instead of re-reading it every epoch:
    the runs spend the CPU on training. Otherwise every run streams its splits from Delta.
    `parallel` runs train at once, sharing the cluster's CPUs (one run's start-up and evaluation
    overlap another's training; on 2 cores two single-threaded runs out-train one two-threaded run).
    """
    dataset = dataset or DatasetConfig.for_lake(lake)
    if controls and not dataset.item_features:
        log.info("no item vectors in this dataset: the %s controls are skipped", CONTROL)
        controls = []
    oracle_dataset = None
    if oracle:
        if not dataset.item_features or raw is None:
            raise NoOracleError("oracle vectors need a dataset with item vectors and the sample site's raw zone")
        oracle_dataset = dataset.with_item_table(write_oracle_vectors(raw, lake))
    random_dataset = None
    if random_modality:
        if not dataset.item_features:
            raise ValueError("--random-modality needs a dataset with item vectors (run `umair embed` first)")
        random_dataset = dataset.with_item_table(*write_random_modality(lake, dataset.item_features))
    control_datasets = {ORACLE_SUFFIX: oracle_dataset, RANDOM_SUFFIX: random_dataset}  # PlannedRun.vectors -> its data
    cache = should_cache(dataset, cache_splits)
    base = replace(base, in_memory=cache)
    with runs_folder_lock(out):
        results: dict[int, dict] = {}
        todo: list[tuple[int, str, TrainConfig, DatasetConfig]] = []
        planned_runs = plan(models, variants, controls, seeds or [base.seed], oracle, random_modality)
        for i, planned in enumerate(planned_runs, 1):
            cfg = planned.config(base, tuned or {})
            data = (control_datasets[planned.vectors] if planned.vectors else None) or dataset
            done = Path(out, planned.name, "metrics.json")
            previous = json.loads(done.read_text()) if done.exists() and not force else None
            why = reusable(previous, cfg, data.fingerprint(), done.parent) if previous is not None else None
            if previous is not None and why is None:
                log.info(
                    "[%d] %s: already trained with this budget on these inputs, reused (use --force)", i, planned.name
                )
                results[i] = previous
            else:
                if why:
                    print(f"[{i}] {planned.name}: retrained, {why}", flush=True)
                todo.append((i, planned.name, cfg, data))
        if todo:
            _train_all(lake, out, todo, results, dataset, cache, address, parallel)
    return [results[i] for i in sorted(results)]


def _train_all(
    lake: str,
    out: str,
    todo: list[tuple[int, str, TrainConfig, DatasetConfig]],
    results: dict[int, dict],
    dataset: DatasetConfig,
    cache: bool,
    address: str | None,
    parallel: int,
) -> None:
    init_ray(address)
    splits = None
    if cache:
        splits = ranker_splits(dataset, with_valid=any(item[2].early_stop for item in todo), materialize=True)
        log.info(
            "splits cached in the object store for every run: %s",
            ", ".join(f"{s} {d.count():,} rows ({d.size_bytes() / 2**20:.0f} MiB)" for s, d in splits.items()),
        )
    concurrent = max(1, min(parallel, len(todo)))

    def train(item: tuple[int, str, TrainConfig, DatasetConfig]) -> None:
        i, name, cfg, data = item
        r = run(lake, out, cfg, data, address=address, run_name=name, splits=splits, concurrent_runs=concurrent)
        print(f"[{i}] {name:<28} AUC {r['auc']:.4f}  log loss {r['logloss']:.4f}  ({r['wall_seconds']} s)", flush=True)
        results[i] = r

    with ThreadPoolExecutor(concurrent, thread_name_prefix="compare") as pool:
        for future in [pool.submit(train, item) for item in todo]:
            future.result()  # the first failure is raised once the runs in flight have finished


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Compare UMAIR-FPS, the baselines and the ablations on one lake (one budget for all)."
    )
    p.add_argument("--lake", required=True)
    p.add_argument("--out", required=True, help="runs folder (one sub-folder per model / variant)")
    p.add_argument("--dataset", default=None, help="dataset YAML as for `umair train` (default: our lake's tables)")
    add_config_flags(p, CompareConfig)
    add_config_flags(p, TrainConfig, skip=("model", "variant", "in_memory"))
    add_config_file_flag(p, "compare")
    add_address_flag(p)
    return p


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
        controls=what.control_list(),
        seeds=what.seed_list(base.seed),
        tuned=load_tuned(what.tuned),
        dataset=DatasetConfig.from_yaml(a.dataset, a.lake) if a.dataset else None,
        oracle=what.oracle_list(),
        raw=what.raw,
        random_modality=what.random_modality_list(),
    )
    report = write_report(a.out, what.raw)
    print(f"report: {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
