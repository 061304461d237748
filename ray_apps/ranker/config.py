"""TrainConfig: every setting of a ranker run, declared once (the CLI flags derive from it)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from ray_apps.settings import (
    RayJobSettings,
    add_address_flag,
    add_config_file_flag,
    add_config_flags,
    config_from_args,
    setting,
)
from umair_models.models.registry import MODELS

PLACEMENTS = ("PACK", "SPREAD", "STRICT_SPREAD")  # Ray placement-group strategies for a run's workers


def parse_overrides(items: list[str] | dict[str, Any]) -> dict[str, Any]:
    """["KEY=VALUE", ...] (YAML values) -> {KEY: value}; a dict (from a --config file) passes through."""
    import yaml

    if isinstance(items, dict):
        return dict(items)
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
        out[key] = yaml.safe_load(value)
    return out


@dataclass
class TrainConfig(RayJobSettings):
    model: str = setting("umair_fps", "ranker to train", choices=tuple(MODELS))
    variant: str | None = setting(None, 'UMAIR-FPS Table 4 variant, e.g. "w/o STY"')
    overrides: dict[str, Any] = setting(
        {},
        "model config override KEY=VALUE (a YAML value; repeatable)",
        flag="--set",
        repeat=True,
        parse=parse_overrides,
    )
    epochs: int = setting(1, "passes over the training split (the paper: 1)")
    batch_size: int = setting(1024, "training batch size per worker")
    eval_batch_size: int = setting(4096, "evaluation batch size (forward only: larger batches, fewer steps)")
    lr: float = setting(1e-3, "Adam learning rate")
    worker_resources: dict[str, float] = setting(
        {}, "custom Ray resources each worker also needs, e.g. '{trainer: 1}': the workers go to nodes that have them"
    )
    placement: str = setting(
        "PACK",
        "how Ray places the workers: PACK (as few nodes as possible), SPREAD, STRICT_SPREAD (each on its own node)",
        choices=PLACEMENTS,
    )
    seed: int = setting(0, "seed of the model's initialisation and of the shuffles")
    init_from: str | None = setting(
        None,
        "warm start: begin from this trained run's weights (RUNS/<run>; same model and settings); rows of "
        "values new since that run start fresh. Refused before training when the run does not fit",
    )
    early_stop: bool = setting(
        False,
        "evaluate the validation split after every epoch: decay the learning rate when --monitor does not improve, "
        "stop after --patience such epochs, test the best epoch's weights",
    )
    monitor: str = setting("auc", "validation metric that early stopping watches", choices=("auc", "logloss", "gauc"))
    patience: int = setting(2, "epochs without improvement before early stopping ends the run")
    lr_decay: float = setting(0.1, "learning rate x this after each epoch that does not improve (1: no decay)")
    lr_floor: float = setting(1e-6, "the learning rate never decays below this")
    restore_best: bool = setting(True, "with --early-stop: test (and save) the best epoch's weights, not the last")
    grad_clip: float = setting(0.0, "clip the gradients' global norm to this (0: no clipping)")
    precise_bn_batches: int = setting(
        50, "before each evaluation, recompute batch-norm statistics over this many training batches (0: off)"
    )
    checkpoint_every: int = setting(0, "steps between mid-epoch checkpoints (0: only at each epoch's end)")
    shuffle_buffer: int = setting(8192, "streaming: rows in each worker's local shuffle buffer")
    in_memory: bool = setting(False, "hold each worker's shard in memory, shuffled globally per epoch (small data)")
    log_every_s: float = setting(10.0, "seconds between training progress lines")
    tuned: str = setting("", "the `umair tune` folder whose settings this run uses (set by compare --tuned)", cli=False)
    inject_failure_marker: str = setting("", "tests: raise once after the first checkpoint", cli=False)

    def run_label(self) -> str:
        return self.model + (f" {self.variant}" if self.variant else "")


CONTROL = "+MM"  # a baseline given the item vectors as extra fields (ModelConfig.use_pretrained): compare's control


def default_run_name(model: str, variant: str | None) -> str:
    """A run's folder name: the model, plus the Table 4 variant in a path-safe spelling."""
    return (model + (f"__{variant}" if variant else "")).replace("/", "-").replace(" ", "_").replace("*", "x")


def add_train_flags(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """A flag per TrainConfig setting (but `skip`), --config FILE (section `train:`) and --address."""
    add_config_flags(parser, TrainConfig, skip)
    add_config_file_flag(parser, "train")
    add_address_flag(parser)


def train_config_from(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig of parsed `add_train_flags` arguments: defaults < the file < flags given."""
    return config_from_args(TrainConfig, args, "train")
