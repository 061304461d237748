"""Train UMAIR-FPS, the six baselines and the Table 4 variants on the same splits and budget.

    umair compare --lake LAKE --out RUNS [--models all] [--variants all|none|"w/o STY,w/o SEM"] [--raw RAW]
                  [--seeds 3] [--controls dcn_v2|all|none] [--tuned TUNED] [--dataset dataset.yaml] [--parallel 2]
                  [any `umair train` budget flag: --epochs, --early-stop, --lr, --seed, ...] [--config compare.yaml]

Every run gets the same TrainConfig (epochs, batch size, optimizer, protocol, seed) apart from the
model; `--tuned DIR` gives each model the settings `umair tune` found for it with the same search
budget. `--seeds N` trains every run N times (seeds seed .. seed+N-1; the report gives mean ± sd).
`--controls` adds `+MM` rows: baselines given the item vectors as extra fields, so the report can
tell "more inputs" from "better fusion". Small splits (up to 2 GiB as arrays) are read from Delta
once and cached for all runs. A finished run (RUNS/<run>/metrics.json) is reused only when its
budget and its inputs (the Delta versions of the splits and item vectors, the feature spec) are
the same, unless --force. One compare at a time writes to a runs folder (a lock file; a second
one refuses). --parallel N trains N runs at once. Writes RUNS/report.md and charts at the end.
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
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

from ray_apps.artifacts import RANKER_FILE
from ray_apps.console import log, setup_console
from ray_apps.ranker.config import CONTROL, TrainConfig, default_run_name
from ray_apps.ranker.data import DatasetConfig, ranker_splits
from ray_apps.ranker.job import run
from ray_apps.runtime import init_ray
from ray_apps.settings import add_address_flag, add_config_file_flag, add_config_flags, config_from_args, setting
from umair_models.models.registry import BASELINES
from umair_models.models.umair_fps import VARIANTS

QUICK_VARIANTS = ("w/o ALL", "w/o STY", "w/o SEM", "w/o TSEM", "w/o UMCM", "w/ UMCM_ATT", "w/ UMCM_SEN", "w/o DCN-V2")


@dataclass(frozen=True)
class PlannedRun:
    """One run of a comparison: a model (a Table 4 variant of UMAIR-FPS, or a +MM control) and a seed."""

    model: str
    variant: str | None = None
    control: bool = False
    seed: int = 0

    @property
    def name(self) -> str:
        """The run's folder: model[__variant][__+MM][__seedN] (seed 0 has no suffix)."""
        return (
            default_run_name(self.model, self.variant)
            + (f"__{CONTROL}" if self.control else "")
            + (f"__seed{self.seed}" if self.seed else "")
        )

    def config(self, base: TrainConfig, tuned: dict[str, dict[str, Any]]) -> TrainConfig:
        """The run's TrainConfig: the shared budget, the model's tuned settings (if any), the control's switch."""
        settings = dict(tuned.get(self.model, {}))
        overrides = {**settings.pop("overrides", {}), **base.overrides}
        if self.control:
            overrides["use_pretrained"] = True
        return replace(base, **settings, model=self.model, variant=self.variant, overrides=overrides, seed=self.seed)


def plan(
    models: Sequence[str], variants: Sequence[str], controls: Sequence[str] = (), seeds: Sequence[int] = (0,)
) -> list[PlannedRun]:
    """Every run of a comparison, seed by seed: the models, the +MM controls, then the UMAIR-FPS variants."""
    runs = []
    for seed in seeds:
        runs += [PlannedRun(m, seed=seed) for m in models]
        runs += [PlannedRun(m, control=True, seed=seed) for m in controls]
        runs += [PlannedRun("umair_fps", v, seed=seed) for v in variants if v != "w/ ATT*3"]  # ATT*3 is the default
    return runs


@dataclass
class CompareConfig:
    """What a comparison trains (the budget each run gets is a TrainConfig)."""

    models: str = setting("all", "comma list of models, or 'all' (UMAIR-FPS + the six baselines)")
    variants: str = setting("quick", "UMAIR-FPS ablations: 'all', 'quick' (the main ones), 'none' or a comma list")
    controls: str = setting(
        "dcn_v2",
        f"baselines also trained with the item vectors as extra fields ({CONTROL} rows): a comma list, 'all' or 'none'",
    )
    seeds: int = setting(1, "train every run with this many seeds (seed, seed+1, ...); the report gives mean ± sd")
    tuned: str | None = setting(
        None, "folder written by `umair tune`: each model trains with the settings found for it"
    )
    raw: str | None = setting(
        None, "raw landing zone of a sample site: the oracle and learnable-ceiling rows of the report"
    )
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

    def control_list(self) -> list[str]:
        if self.controls == "none":
            return []
        chosen = (
            list(BASELINES) if self.controls == "all" else [m.strip() for m in self.controls.split(",") if m.strip()]
        )
        unknown = [m for m in chosen if m not in BASELINES]
        if unknown:
            raise SystemExit(f"--controls: {unknown} are not baselines; choose from {list(BASELINES)}")
        return chosen

    def seed_list(self, first: int) -> list[int]:
        if self.seeds < 1:
            raise SystemExit(f"--seeds must be >= 1, got {self.seeds}")
        return list(range(first, first + self.seeds))


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


def load_tuned(folder: str | Path | None) -> dict[str, dict[str, Any]]:
    """model -> the TrainConfig settings `umair tune` wrote for it (FOLDER/<model>.yaml); {} without a folder."""
    if not folder:
        return {}
    files = sorted(Path(folder).glob("*.yaml"))
    if not files:
        raise SystemExit(f"--tuned {folder}: no <model>.yaml files (write them with `umair tune --out {folder}`)")
    allowed = {field.name for field in fields(TrainConfig)} - {"model", "variant", "seed", "tuned"}
    tuned: dict[str, dict[str, Any]] = {}
    for path in files:
        data = yaml.safe_load(path.read_text()) or {}
        settings: dict[str, Any] = data["train"] if isinstance(data.get("train"), dict) else data
        unknown = set(settings) - allowed
        if unknown:
            raise SystemExit(f"{path}: unknown train settings {sorted(unknown)}")
        tuned[path.stem] = {**settings, "tuned": str(Path(folder).resolve())}
    return tuned


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
    cache = should_cache(dataset, cache_splits)
    base = replace(base, in_memory=cache)
    with runs_folder_lock(out):
        inputs = dataset.fingerprint()
        results: dict[int, dict] = {}
        todo: list[tuple[int, str, TrainConfig]] = []
        for i, planned in enumerate(plan(models, variants, controls, seeds or [base.seed]), 1):
            cfg = planned.config(base, tuned or {})
            done = Path(out, planned.name, "metrics.json")
            previous = json.loads(done.read_text()) if done.exists() and not force else None
            why = reusable(previous, cfg, inputs, done.parent) if previous is not None else None
            if previous is not None and why is None:
                log.info(
                    "[%d] %s: already trained with this budget on these inputs, reused (use --force)", i, planned.name
                )
                results[i] = previous
            else:
                if why:
                    print(f"[{i}] {planned.name}: retrained, {why}", flush=True)
                todo.append((i, planned.name, cfg))
        if todo:
            _train_all(lake, out, todo, results, dataset, base, cache, address, parallel)
    return [results[i] for i in sorted(results)]


def _train_all(
    lake: str,
    out: str,
    todo: list[tuple[int, str, TrainConfig]],
    results: dict[int, dict],
    dataset: DatasetConfig,
    base: TrainConfig,
    cache: bool,
    address: str | None,
    parallel: int,
) -> None:
    init_ray(address)
    splits = None
    if cache:
        splits = ranker_splits(dataset, with_valid=any(cfg.early_stop for _, _, cfg in todo), materialize=True)
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Compare UMAIR-FPS, the baselines and the ablations on one lake (one budget for all)."
    )
    p.add_argument("--lake", required=True)
    p.add_argument("--out", required=True, help="runs folder (one sub-folder per model / variant)")
    p.add_argument("--dataset", default=None, help="dataset YAML as for `umair train` (default: our lake's tables)")
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
        controls=what.control_list(),
        seeds=what.seed_list(base.seed),
        tuned=load_tuned(what.tuned),
        dataset=DatasetConfig.from_yaml(a.dataset, a.lake) if a.dataset else None,
    )
    report = write_report(a.out, what.raw)
    print(f"report: {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
