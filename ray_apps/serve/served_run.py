"""One trained run as a replica serves it: model on its serving export, feature store, retrieval, facts (no Ray).

A replica holds exactly one `ServedRun` at a time and swaps it for another in one assignment
(`Ranker.reconfigure`); each request keeps the `ServedRun` it started with, so a swap never
mixes one run's feature indices with another run's model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ray_apps.serve.drift import ScoreDrift
from umair_models import storage


@dataclass(frozen=True)
class ServedRun:
    run: str  # where the run lives (a local path or a URI)
    lake: str
    model: Any  # umair_models CTRModel in eval mode
    store: Any  # ray_apps.serve.features.FeatureStore
    retrieval: Any  # ray_apps.serve.retrieval.RetrievalIndex
    metrics: dict
    config: dict
    feature_versions: dict
    trained_at: str
    drift: ScoreDrift | None = None  # served scores against the run's offline test predictions
    loaded_at: str = field(default_factory=lambda: datetime.now().isoformat(timespec="seconds"))

    @classmethod
    def load(cls, run: str | Path, lake: str | Path) -> ServedRun:
        """Read RUN (model.safetensors, metrics, config, and its serving export: item side and
        retrieval, built first when missing or stale; from this node's copy when RUN is on object
        storage) and LAKE's feature tables. Replicas read the raw item vectors only if they must build the export."""
        from ray_apps import artifacts
        from ray_apps.encoders.item_features import encoder_versions
        from ray_apps.serve import export
        from ray_apps.serve.features import FeatureStore
        from ray_apps.serve.retrieval import RetrievalIndex

        run, lake = storage.absolute(run), storage.absolute(lake)
        local = storage.local_copy(run)
        model, spec, _ = artifacts.load_ranker(local)
        folder = export.ensure(run, lake)
        if model.lookups:
            model.use_item_side(export.load_item_side(folder))
        max_lens = {f.name: f.max_len for f in spec.of_kind("multi_categorical")}
        return cls(
            run=run,
            lake=lake,
            model=model,
            store=FeatureStore(lake, spec.input_columns(), max_lens),
            retrieval=RetrievalIndex.load(folder),
            metrics=_json_or_empty(local / "metrics.json"),
            config=_json_or_empty(local / "config.json"),
            feature_versions=encoder_versions(lake),
            trained_at=datetime.fromtimestamp(artifacts.ranker_trained_at(local)).isoformat(),
            drift=ScoreDrift.for_run(local),
        )

    def score(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Click probabilities [N] for model inputs (int64 [N] or [N, L] per field)."""
        with torch.inference_mode():
            return torch.sigmoid(self.model({k: torch.from_numpy(v) for k, v in batch.items()})).numpy()

    def describe(self) -> dict:
        """What `/v1/model` reports about the run."""
        return {
            "model": self.config.get("model"),
            "variant": self.config.get("variant"),
            "run": self.run.rstrip("/").rsplit("/", 1)[-1],
            "trained_at": self.trained_at,
            "loaded_at": self.loaded_at,
            "metrics": {k: self.metrics.get(k) for k in ("auc", "logloss", "gauc", "parameters")},
            "feature_versions": self.feature_versions,
            "parameters": self.model.num_parameters(),
            "score_drift": self.drift.describe() if self.drift else None,
        }


def _json_or_empty(path: Path) -> dict:
    import json

    return json.loads(path.read_text()) if path.exists() else {}
