"""name -> model class (whose `config_class` holds its defaults); Table 4 variants of UMAIR-FPS."""

from __future__ import annotations

from typing import Any

from umair_models.features import FeatureSpec
from umair_models.models.base import CTRModel
from umair_models.models.dcn import DCN, DCNV2
from umair_models.models.difm import DIFM
from umair_models.models.fibinet import FiBiNET
from umair_models.models.finalmlp import FinalMLP
from umair_models.models.umair_fps import UMAIRFPS, VARIANTS
from umair_models.models.xdeepfm import XDeepFM

MODELS: dict[str, type[CTRModel]] = {
    "umair_fps": UMAIRFPS,
    "dcn": DCN,
    "xdeepfm": XDeepFM,
    "fibinet": FiBiNET,
    "difm": DIFM,
    "dcn_v2": DCNV2,
    "finalmlp": FinalMLP,
}
BASELINES = ("dcn", "xdeepfm", "fibinet", "difm", "dcn_v2", "finalmlp")
DISPLAY_NAMES = {
    "umair_fps": "UMAIR-FPS",
    "dcn": "DCN",
    "xdeepfm": "xDeepFM",
    "fibinet": "FiBiNET",
    "difm": "DIFM",
    "dcn_v2": "DCN-V2",
    "finalmlp": "FinalMLP",
}


def model_names() -> list[str]:
    return list(MODELS)


def build_model(
    name: str, spec: FeatureSpec, overrides: dict[str, Any] | None = None, variant: str | None = None
) -> CTRModel:
    """Build `name` on `spec` with its default config, a Table 4 `variant` and `overrides` applied."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; choose one of {model_names()}")
    cls = MODELS[name]
    values = dict(overrides or {})
    if variant is not None:
        if name != "umair_fps" or variant not in VARIANTS:
            raise KeyError(f"unknown variant {variant!r} for {name}; UMAIR-FPS variants: {list(VARIANTS)}")
        values = {**VARIANTS[variant], **values}
    model = cls(spec, cls.config_class.from_dict(values))
    model.initialize()
    return model
