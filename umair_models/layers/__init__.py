"""Shared layers, one idea per file; every forward states its tensor shapes."""

from umair_models.layers.attention import MultiHeadSelfAttention
from umair_models.layers.cin import CIN
from umair_models.layers.cross import CrossNet, CrossNetMix, CrossNetV2
from umair_models.layers.embedding import FeatureEmbedding, LinearLogit, PretrainedLookup
from umair_models.layers.gating import FeatureGating, InteractionAggregation
from umair_models.layers.mlp import MLP
from umair_models.layers.principal import PrincipalProjection, vector_projection
from umair_models.layers.senet import SENET, BilinearInteraction, FMInteraction
from umair_models.layers.umcm import UMCM, ExpertGate, UMCMExperts

__all__ = [
    "MLP",
    "CIN",
    "CrossNet",
    "CrossNetV2",
    "CrossNetMix",
    "FeatureEmbedding",
    "LinearLogit",
    "PretrainedLookup",
    "PrincipalProjection",
    "vector_projection",
    "FeatureGating",
    "InteractionAggregation",
    "MultiHeadSelfAttention",
    "SENET",
    "BilinearInteraction",
    "FMInteraction",
    "UMCM",
    "UMCMExperts",
    "ExpertGate",
]
