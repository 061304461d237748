"""`umair tune`: the same hyper-parameter search for every model, on Ray Tune, scored on the validation split.

    umair tune --lake LAKE --model dcn_v2 --out TUNED [--trials 12] [--max-epochs 4] [--dataset dataset.yaml]
    umair tune --lake LAKE --model fibinet --set use_pretrained=true --out TUNED   # its +MM control
    umair compare --lake LAKE --out RUNS --tuned TUNED      # each model trains with what was found for it

Every model searches one space (learning rate, embedding width, embedding L2, dropout, batch norm:
`SEARCH_SPACE`) with the same number of random trials, and ASHA stops trials whose validation
AUC trails after each epoch (grace 1 epoch, halving), so the budget goes to promising settings.
`--set KEY=VALUE` holds a model setting fixed for every trial (a key of the space given so is not
searched): `--set use_pretrained=true` tunes a baseline's `+MM` control (written as `<model>__+MM`),
`--set user_item_dot=true --set vector_components=16` a UMAIR-FPS configuration.
A trial trains in one process on the splits held in Ray's object store with the production
`train_epoch` / `evaluate` functions and the run protocol's precise batch-norm statistics.
Writes TUNED/<name>.yaml (the `train:` settings `compare --tuned` reads; name: the model, or
`<model>__+MM` for a control) and TUNED/<name>.trials.json (every trial's settings and best validation metrics).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ray_apps.console import log, setup_console
from ray_apps.ranker.config import TrainConfig
from ray_apps.ranker.data import DatasetConfig, split_arrays
from ray_apps.ranker.plan import tuned_name
from ray_apps.runtime import init_ray
from ray_apps.settings import add_address_flag, add_config_file_flag, add_config_flags, config_from_args, setting
from umair_models.models.registry import MODELS

# One space for every model (ModelConfig's shared fields + the optimizer): a fair comparison tunes alike.
SEARCH_SPACE: dict[str, tuple[str, list[Any]]] = {
    "lr": ("loguniform", [1e-4, 3e-3]),
    "embedding_dim": ("choice", [8, 16, 32]),
    "embedding_l2": ("choice", [0.0, 1e-5, 1e-4, 1e-3]),
    "dnn_dropout": ("choice", [0.0, 0.1, 0.2]),
    "batch_norm": ("choice", [False, True]),
}


@dataclass
class TuneConfig:
    model: str = setting("dcn_v2", "model to tune", choices=tuple(MODELS))
    trials: int = setting(12, "random trials from the search space (the same for every model)")
    max_epochs: int = setting(4, "epochs a trial may train (ASHA stops the weaker ones earlier)")
    concurrent: int = setting(0, "trials at once (0: one per CPU of the cluster)")
    search_seed: int = setting(0, "seed of the random search")


def searched(fixed: dict[str, Any] | None = None) -> dict[str, tuple[str, list[Any]]]:
    """SEARCH_SPACE less the keys held `fixed` (`--set`): what the trials draw."""
    return {k: v for k, v in SEARCH_SPACE.items() if k not in (fixed or {})}


def search_space(fixed: dict[str, Any] | None = None) -> dict[str, Any]:
    """Ray Tune's space for `searched(fixed)`."""
    from ray import tune

    return {
        k: getattr(tune, kind)(*args) if kind != "choice" else tune.choice(args)
        for k, (kind, args) in searched(fixed).items()
    }


def train_trial(params: dict[str, Any], data: dict[str, Any]) -> None:
    """One Ray Tune trial: train `data["model"]` with `params`, report validation metrics after every epoch."""
    import torch
    from ray import tune

    from ray_apps.ranker.loop import epoch_batches, evaluate, train_epoch, training_state
    from ray_apps.ranker.protocol import BatchTail, recalibrate_batch_norm

    base = data["base"]
    torch.set_num_threads(1)
    overrides = {**base.overrides, **{k: v for k, v in params.items() if k != "lr"}}
    config = replace(base, model=data["model"], lr=params["lr"], overrides=overrides)
    trained = training_state(config, data["spec"], data["item_vectors"])
    model, optimizer = trained.model, trained.optimizer
    held = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in data["train"].items()}
    valid = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in data["valid"].items()}
    n = len(valid["label"])
    step = base.eval_batch_size
    for epoch in range(data["max_epochs"]):
        tail = BatchTail(base.precise_bn_batches)
        batches = tail.watch(epoch_batches(None, base, epoch, held))
        stats = train_epoch(model, model.regularization, optimizer, batches, "cpu", grad_clip=base.grad_clip)
        recalibrate_batch_norm(model, tail.batches, "cpu")
        state, _ = evaluate(
            model, iter([{k: v[i : i + step] for k, v in valid.items()} for i in range(0, n, step)]), "cpu"
        )
        summary = state.summary()
        tune.report(
            {
                "epoch": epoch + 1,
                "train_loss": float(np.mean(stats.losses)) if stats.losses else float("nan"),
                "valid_auc": summary["auc"],
                "valid_logloss": summary["logloss"],
            }
        )


def run(lake: str, out: str, config: TuneConfig, base: TrainConfig, dataset: DatasetConfig | None = None,
        address: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Search `config.model`'s settings, `base.overrides` held fixed; writes OUT/<name>.yaml and
    OUT/<name>.trials.json (name: the model, `<model>__+MM` for a control); -> the best trial."""
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    from ray_apps.encoders.item_features import load_item_vectors
    from umair_models.models.registry import build_model

    init_ray(address)
    name = tuned_name(config.model, bool(base.overrides.get("use_pretrained")) and config.model != "umair_fps")
    dataset = dataset or DatasetConfig.for_lake(lake)
    if "valid" not in dataset.tables:
        raise SystemExit("umair tune needs a validation split (tables.valid in the dataset)")
    probe = build_model(config.model, dataset.spec, base.overrides)
    t = time.time()
    data: dict[str, Any] = {
        "model": config.model,
        "spec": dataset.spec,
        "base": replace(base, in_memory=True),
        "max_epochs": config.max_epochs,
        "train": split_arrays(dataset, "train"),
        "valid": split_arrays(dataset, "valid"),
        "item_vectors": load_item_vectors(dataset.item_features) if probe.lookups and dataset.item_features else {},
    }
    log.info(
        "tune %s: splits read in %.1f s (%d train rows)", config.model, time.time() - t, len(data["train"]["label"])
    )
    concurrent = config.concurrent or max(1, int(ray.cluster_resources().get("CPU", 1)))
    out_dir = Path(out).resolve()
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(train_trial, data=data), {"cpu": 1}),
        param_space=search_space(base.overrides),
        tune_config=tune.TuneConfig(
            metric="valid_auc",
            mode="max",
            num_samples=config.trials,
            max_concurrent_trials=concurrent,
            scheduler=ASHAScheduler(max_t=config.max_epochs, grace_period=1, reduction_factor=2, time_attr="epoch"),
            search_alg=BasicVariantGenerator(random_state=config.search_seed),
        ),
        run_config=tune.RunConfig(
            name=f"tune_{name}", storage_path=str(out_dir / "ray_tune"), verbose=0,
            callbacks=[_TrialLines(name, config.trials)],
        ),
    )  # fmt: skip
    results = tuner.fit()
    trials: list[dict[str, Any]] = []
    for r in (results[i] for i in range(len(results))):
        if r.metrics_dataframe is None or r.metrics_dataframe.empty:
            continue
        frame = r.metrics_dataframe
        best_row = frame.loc[frame["valid_auc"].idxmax()]
        trials.append(
            {
                "params": r.config,
                "epochs": int(frame["epoch"].max()),
                "best_epoch": int(best_row["epoch"]),
                "valid_auc": float(best_row["valid_auc"]),
                "valid_logloss": float(best_row["valid_logloss"]),
                "error": str(r.error) if r.error else None,
            }
        )
    if not trials:
        raise RuntimeError(f"no trial of {name} reported a result; see {out_dir / 'ray_tune'}")
    best = max(trials, key=lambda t: t["valid_auc"])
    params = dict(best["params"])
    settings = {"lr": float(params.pop("lr")), "overrides": {**base.overrides, **params}}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.yaml").write_text(
        f"# umair tune: best of {len(trials)} trials by validation AUC ({best['valid_auc']:.4f} at epoch "
        f"{best['best_epoch']}); search space and budget in {name}.trials.json\n"
        + yaml.safe_dump({"train": settings}, sort_keys=True)
    )
    (out_dir / f"{name}.trials.json").write_text(
        json.dumps(
            {
                "model": config.model,
                "name": name,
                "tune": asdict(config),
                "space": searched(base.overrides),
                "fixed": base.overrides,
                "base": asdict(data["base"]),
                "trials": trials,
            },
            indent=1,
            default=str,
        )
    )
    return {
        "model": config.model, "name": name, "best": best, "settings": settings, "trials": len(trials),
        "out": str(out_dir),
    }  # fmt: skip


class _TrialLines:
    """A Ray Tune callback: one console line per finished trial (Tune's own table is off)."""

    def __new__(cls, model: str, total: int) -> Any:
        from ray.tune import Callback

        class TrialLines(Callback):
            def __init__(self) -> None:
                self.done = 0

            def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
                self.done += 1
                last = trial.last_result or {}
                params = ", ".join(
                    f"{k} {v:.2g}" if isinstance(v, float) else f"{k} {v}" for k, v in trial.config.items()
                )
                print(
                    f"[tune] {model} trial {self.done}/{total}: {last.get('epoch', 0)} epoch(s), "
                    f"valid AUC {last.get('valid_auc', float('nan')):.4f} ({params})",
                    flush=True,
                )

        return TrialLines()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Tune a ranker's settings on the validation split with Ray Tune (ASHA).")
    p.add_argument("--lake", required=True)
    p.add_argument("--out", required=True, help="folder for <model>.yaml (read by `umair compare --tuned`)")
    p.add_argument("--dataset", default=None, help="dataset YAML as for `umair train` (default: our lake's tables)")
    add_config_flags(p, TuneConfig)
    add_config_flags(p, TrainConfig, skip=("model", "variant", "in_memory", "epochs", "lr", "early_stop"))
    add_config_file_flag(p, "tune")
    add_address_flag(p)
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    setup_console()
    config = config_from_args(TuneConfig, a, "tune", shared_with=(TrainConfig,))
    base = config_from_args(TrainConfig, a, "tune", shared_with=(TuneConfig,), model=config.model)
    dataset = DatasetConfig.from_yaml(a.dataset, a.lake) if a.dataset else None
    r = run(a.lake, a.out, config, base, dataset, a.address)
    print(
        f"{r['name']}: best valid AUC {r['best']['valid_auc']:.4f} of {r['trials']} trials -> "
        f"{Path(r['out'], r['name'] + '.yaml')} (use: umair compare --tuned {r['out']})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
