"""Rankers: UMAIR-FPS and the six baselines of the paper's Table 3, behind one registry."""

from umair_models.models.registry import MODELS, build_model, model_names

__all__ = ["MODELS", "build_model", "model_names"]
