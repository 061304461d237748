"""Lineage and the model registry, in MLflow: every trained run is an MLflow run; a run that is gated
or promoted is a version of the registered model `umair-ranker`; the alias `champion` names the
version the endpoint serves and moves only on promotion or rollback.

Where the store is: `MLFLOW_TRACKING_URI` when set (a team's MLflow server), else a SQLite file
RUNS/mlflow.db beside the runs it records (MLflow's file store is in maintenance mode). Weights stay
where training wrote them (RUNS/<run>/model.safetensors + model.json): a model version's `source`
is that folder, and only the small JSON records are logged as MLflow artifacts; nothing is pickled.

What a run records (the MLflow run named like the run folder):
    params    the TrainConfig (nested values as JSON)
    metrics   auc, logloss, gauc, parameters, train_samples_per_s, wall_seconds
    tags      umair.run_dir, umair.lake, umair.inputs (the Delta version of every input table, the
              feature spec's hash), mlflow.source.git.commit / umair.code_version, umair.parent_run
              (the warm start's run folder and MLflow run id)
    artifacts record/metrics.json, record/config.json, record/model.json (and record/gate.json once gated)
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from umair_models import storage

log = logging.getLogger("umair.registry")
MODEL_NAME = "umair-ranker"
CHAMPION = "champion"
HISTORY_TAG = "umair.champion_history"  # JSON list of versions, oldest first: what rollback returns to
EXPERIMENT = "umair"
RECORD_FILE = "mlflow.json"  # RUN/mlflow.json: {"tracking_uri", "run_id"}
# compare trains runs from threads and SQLite takes one writer at a time; reentrant, as helpers nest
_LOCK = threading.RLock()


class RegistryError(RuntimeError):
    """The registry cannot do what was asked (no champion to roll back to, no run record, ...)."""


def tracking_uri(runs: str | Path) -> str | None:
    """MLFLOW_TRACKING_URI, else SQLite in RUNS (None when RUNS is on object storage: no local file to hold it)."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    if storage.is_remote(runs):
        return None
    folder = Path(storage.absolute(runs))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


@contextmanager
def client(runs: str | Path) -> Iterator[Any]:
    """An MlflowClient on the store for RUNS (RegistryError when there is none)."""
    uri = tracking_uri(runs)
    if uri is None:
        raise RegistryError(f"{runs} is on object storage: set MLFLOW_TRACKING_URI to record its runs in MLflow")
    from mlflow import MlflowClient

    from ray_apps.console import quiet_libraries

    quiet_libraries()
    with _LOCK:
        yield MlflowClient(tracking_uri=uri, registry_uri=uri)


def code_version() -> str:
    """The git commit of this checkout (with '-dirty' when it has changes), else the package version."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=40"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        return commit or "unknown"
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"umair-fps {version('umair-fps')}"
        except PackageNotFoundError:
            return "unknown"


def _experiment_id(c: Any, runs: str | Path) -> str:
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME", EXPERIMENT)
    found = c.get_experiment_by_name(name)
    if found:
        return found.experiment_id
    artifacts = None if os.environ.get("MLFLOW_TRACKING_URI") else str(Path(storage.absolute(runs), "mlartifacts"))
    return c.create_experiment(name, artifact_location=artifacts)


def _params(config: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v, default=str) for k, v in config.items()}


def record_run(runs: str | Path, run_dir: str, record: dict[str, Any], parent: str | None = None) -> str | None:
    """Record a finished training run (job.run's metrics record) as an MLflow run; -> its MLflow run id,
    also written to RUN/mlflow.json. Runs on object storage without MLFLOW_TRACKING_URI are not recorded
    (said on the console), and training never fails because the tracking store does."""
    try:
        with client(runs) as c:
            run = c.create_run(_experiment_id(c, runs), run_name=record["run"], tags=_lineage(record, run_dir, parent))
            rid = run.info.run_id
            c.log_batch(rid, params=[_param(k, v) for k, v in _params(record["config"]).items()])
            c.log_batch(rid, metrics=[_metric(k, record[k]) for k in _METRICS if record.get(k) is not None])
            for name in ("metrics.json", "config.json", "model.json"):
                path = storage.join(run_dir, name)
                if storage.exists(path):
                    c.log_text(rid, storage.read_text(path), f"record/{name}")
            c.set_terminated(rid)
    except RegistryError as e:
        log.warning("not recorded in MLflow: %s", e)
        return None
    except Exception as e:  # the store's own failure (a server down, a locked database): say so, keep the run
        log.warning("not recorded in MLflow (%s: %s)", type(e).__name__, str(e).splitlines()[0] if str(e) else "")
        return None
    storage.write_text(
        storage.join(run_dir, RECORD_FILE), json.dumps({"tracking_uri": tracking_uri(runs), "run_id": rid})
    )
    return rid


_METRICS = ("auc", "logloss", "gauc", "parameters", "train_samples_per_s", "wall_seconds")


def _param(key: str, value: str) -> Any:
    from mlflow.entities import Param

    return Param(key, value[:6000])


def _metric(key: str, value: float) -> Any:
    import time

    from mlflow.entities import Metric

    return Metric(key, float(value), int(time.time() * 1000), 0)


def _lineage(record: dict[str, Any], run_dir: str, parent: str | None) -> dict[str, str]:
    tags = {
        "umair.run_dir": run_dir,
        "umair.lake": str(record.get("lake", "")),
        "umair.model": str(record.get("model", "")),
        "umair.variant": str(record.get("variant") or ""),
        "umair.inputs": json.dumps(record.get("inputs", {}), sort_keys=True),
        "umair.code_version": code_version(),
    }
    if not tags["umair.code_version"].startswith(("umair-fps", "unknown")):
        tags["mlflow.source.git.commit"] = tags["umair.code_version"].removesuffix("-dirty")
    if parent:
        tags["umair.parent_run"] = parent
        parent_record = mlflow_run_of(parent)
        if parent_record:
            tags["umair.parent_mlflow_run"] = parent_record
    return tags


def mlflow_run_of(run_dir: str | Path) -> str | None:
    """The MLflow run id recorded in RUN/mlflow.json, or None."""
    path = storage.join(str(run_dir), RECORD_FILE)
    return json.loads(storage.read_text(path))["run_id"] if storage.exists(path) else None


# --- versions, the champion alias and its history ----------------------------------------------------
def runs_of(run_dir: str | Path) -> str:
    """The runs folder a run belongs to (where its registry lives unless MLFLOW_TRACKING_URI is set)."""
    return str(run_dir).rstrip("/").rsplit("/", 1)[0]


def model_version(run_dir: str | Path, note: str = "") -> str:
    """The registered version whose source is `run_dir`, created on first use; -> the version number."""
    run_dir = storage.absolute(str(run_dir))
    rid = mlflow_run_of(run_dir)
    if rid is None:
        raise RegistryError(f"{run_dir} has no {RECORD_FILE}: it was not trained by `umair train` with a registry")
    with client(runs_of(run_dir)) as c:
        from mlflow.exceptions import MlflowException

        try:
            c.get_registered_model(MODEL_NAME)
        except MlflowException:
            c.create_registered_model(MODEL_NAME, description="UMAIR-FPS and baseline rankers (umair train)")
        for v in c.search_model_versions(f"name='{MODEL_NAME}' and run_id='{rid}'"):
            if v.source == run_dir:
                return str(v.version)
        return str(c.create_model_version(MODEL_NAME, source=run_dir, run_id=rid, description=note).version)


def champion(runs: str | Path) -> tuple[str, str] | None:
    """(version, run folder) of the champion, or None before the first promotion."""
    with client(runs) as c:
        from mlflow.exceptions import MlflowException

        try:
            v = c.get_model_version_by_alias(MODEL_NAME, CHAMPION)
        except MlflowException:
            return None
        return str(v.version), v.source


def history(runs: str | Path) -> list[str]:
    """Champion versions in promotion order (the last is the champion)."""
    with client(runs) as c:
        from mlflow.exceptions import MlflowException

        try:
            tags = c.get_registered_model(MODEL_NAME).tags
        except MlflowException:
            return []
        return json.loads(tags.get(HISTORY_TAG, "[]"))


def tag_version(run_dir: str | Path, tags: dict[str, Any], artifact: tuple[str, dict] | None = None) -> str:
    """Set tags on the run's registered version (and log `artifact` (name, dict) to its MLflow run)."""
    version = model_version(run_dir)
    with client(runs_of(run_dir)) as c:
        for k, v in tags.items():
            c.set_model_version_tag(MODEL_NAME, version, k, v if isinstance(v, str) else json.dumps(v, default=str))
        if artifact:
            c.log_dict(mlflow_run_of(storage.absolute(str(run_dir))), artifact[1], f"record/{artifact[0]}")
    return version


def move_champion(runs: str | Path, version: str, event: str, reason: str) -> None:
    """Point `champion` at `version`. event 'promote': the version joins the history and is tagged
    umair.promoted_at / umair.promote_reason; 'rollback': the last entry leaves the history (tagged
    umair.rolled_back_at) and `version`, the one before it, is tagged umair.restored_at."""
    import time

    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with client(runs) as c:
        past = json.loads(c.get_registered_model(MODEL_NAME).tags.get(HISTORY_TAG, "[]"))
        if event == "promote":
            past, tags = [*past, version], {"umair.promoted_at": when, "umair.promote_reason": reason}
        else:
            c.set_model_version_tag(MODEL_NAME, past[-1], "umair.rolled_back_at", when)
            past, tags = past[:-1], {"umair.restored_at": when, "umair.restore_reason": reason}
        c.set_registered_model_alias(MODEL_NAME, CHAMPION, version)
        c.set_registered_model_tag(MODEL_NAME, HISTORY_TAG, json.dumps(past))
        for k, v in tags.items():
            c.set_model_version_tag(MODEL_NAME, version, k, v)
