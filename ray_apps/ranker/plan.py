"""What a comparison trains: its settings (CompareConfig), the runs it plans (model, variant, +MM
control, oracle vectors, seed) and each run's TrainConfig, with the settings `umair tune` found."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

from ray_apps.ranker.config import CONTROL, TrainConfig, default_run_name
from ray_apps.ranker.oracle_vectors import SUFFIX as ORACLE_SUFFIX
from ray_apps.ranker.random_modality import FIELD as RANDOM_FIELD
from ray_apps.ranker.random_modality import SUFFIX as RANDOM_SUFFIX
from ray_apps.settings import setting
from umair_models.models.registry import BASELINES
from umair_models.models.umair_fps import VARIANTS, UMAIRConfig

QUICK_VARIANTS = ("w/o ALL", "w/o STY", "w/o SEM", "w/o TSEM", "w/o UMCM", "w/ UMCM_ATT", "w/ UMCM_SEN", "w/o DCN-V2")


@dataclass(frozen=True)
class PlannedRun:
    """One run of a comparison: a model (a Table 4 variant of UMAIR-FPS, or a +MM control) and a seed;
    `vectors`: a control's item vectors instead of embed's: ORACLE_SUFFIX, the sample site's true attributes
    (ranker/oracle_vectors.py), or RANDOM_SUFFIX, embed's plus one that carries nothing (ranker/random_modality.py)."""

    model: str
    variant: str | None = None
    control: bool = False
    seed: int = 0
    vectors: str | None = None  # None | ORACLE_SUFFIX | RANDOM_SUFFIX

    @property
    def name(self) -> str:
        """The run's folder: model[__variant][__+MM][__oracle|__rand][__seedN] (seed 0 has no suffix)."""
        return (
            default_run_name(self.model, self.variant)
            + (f"__{CONTROL}" if self.control else "")
            + (f"__{self.vectors}" if self.vectors else "")
            + (f"__seed{self.seed}" if self.seed else "")
        )

    def config(self, base: TrainConfig, tuned: dict[str, dict[str, Any]]) -> TrainConfig:
        """The run's TrainConfig: the shared budget, the model's tuned settings (if any), the control's switch."""
        settings = dict(tuned.get(tuned_name(self.model, self.control)) or tuned.get(self.model, {}))
        overrides = {**settings.pop("overrides", {}), **base.overrides}
        if self.control:
            overrides["use_pretrained"] = True
        if self.vectors == RANDOM_SUFFIX and self.model == "umair_fps":
            modalities = overrides.get("modalities", UMAIRConfig.modalities)
            overrides["modalities"] = [*modalities, RANDOM_FIELD]  # UMCM weighs it with the others
        return replace(base, **settings, model=self.model, variant=self.variant, overrides=overrides, seed=self.seed)


def tuned_name(model: str, control: bool) -> str:
    """The file stem `umair tune` writes for a model (`dcn`) or its +MM control (`dcn__+MM`, tuned with
    `--set use_pretrained=true`); a control without its own file trains with the plain model's settings."""
    return model + (f"__{CONTROL}" if control else "")


def plan(
    models: Sequence[str],
    variants: Sequence[str],
    controls: Sequence[str] = (),
    seeds: Sequence[int] = (0,),
    oracle: Sequence[str] = (),
    random_modality: Sequence[str] = (),
) -> list[PlannedRun]:
    """Every run of a comparison, seed by seed: the models, the +MM controls, the UMAIR-FPS variants,
    then the oracle-vector and random-modality runs (UMAIR-FPS itself, a baseline as its +MM control)."""
    runs = []
    for seed in seeds:
        runs += [PlannedRun(m, seed=seed) for m in models]
        runs += [PlannedRun(m, control=True, seed=seed) for m in controls]
        runs += [PlannedRun("umair_fps", v, seed=seed) for v in variants if v != "w/ ATT*3"]  # ATT*3 is the default
        for vectors, chosen in ((ORACLE_SUFFIX, oracle), (RANDOM_SUFFIX, random_modality)):
            runs += [PlannedRun(m, control=m != "umair_fps", seed=seed, vectors=vectors) for m in chosen]
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
    oracle_vectors: str = setting(
        "none",
        "a sample site only (needs --raw): these models (umair_fps, or a baseline as its +MM control) trained once "
        "more with each item's true style, subject and series as its item vectors; a control, never a default",
    )
    random_modality: str = setting(
        "none",
        "these models (umair_fps, or a baseline as its +MM control) trained once more with one more item vector "
        "that carries nothing (fixed Gaussian noise per item): a control of whether the vectors can only help",
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

    def oracle_list(self) -> list[str]:
        chosen = _chosen_models(self.oracle_vectors, "--oracle-vectors")
        if chosen and not self.raw:
            raise SystemExit("--oracle-vectors needs --raw: the sample site's raw zone holds the true attributes")
        return chosen

    def random_modality_list(self) -> list[str]:
        return _chosen_models(self.random_modality, "--random-modality")

    def seed_list(self, first: int) -> list[int]:
        if self.seeds < 1:
            raise SystemExit(f"--seeds must be >= 1, got {self.seeds}")
        return list(range(first, first + self.seeds))


def _chosen_models(text: str, flag: str) -> list[str]:
    """A comma list of models ('none': no model); SystemExit naming `flag` for a name that is not a model."""
    chosen = [] if text == "none" else [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in ("umair_fps", *BASELINES)]
    if unknown:
        raise SystemExit(f"{flag}: {unknown} are not models; choose from umair_fps, {list(BASELINES)}")
    return chosen


def load_tuned(folder: str | Path | None) -> dict[str, dict[str, Any]]:
    """name -> the TrainConfig settings `umair tune` wrote (FOLDER/<name>.yaml, name a model or a control's
    `<model>__+MM`: `tuned_name`); {} without a folder."""
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
