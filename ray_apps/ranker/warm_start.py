"""`umair train --init-from RUN`: the trained run's weights as the new model's start
(umair_models.warm_start: same model and settings; embedding tables may have grown)."""

from __future__ import annotations

from typing import Any

import torch

from ray_apps.artifacts import RANKER_FILE, load_weights
from umair_models import storage
from umair_models.features import FeatureSpec
from umair_models.warm_start import WarmStartReport, check_same_model, grow_state


def warm_state(
    run_dir: str, model: Any, model_name: str, variant: str | None
) -> tuple[dict[str, torch.Tensor], WarmStartReport]:
    """The state that starts `model` (freshly built, not yet trained) from RUN's weights; WarmStartError
    (or UnsafeArtifactError / FileNotFoundError for a folder without a ranker) when it cannot."""
    state, record = load_weights(storage.join(run_dir, RANKER_FILE), "umair-ranker")
    check_same_model(record, model_name, variant, model.config.to_dict(), type(model.config)().to_dict())
    return grow_state(state, model.trainable_state(), FeatureSpec.from_dict(record["spec"]), model.spec)
