"""DCN (Wang et al., ADKDD 2017) and DCN-V2 (Wang et al., WWW 2021): cross network ∥ deep network."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from umair_models.features import FeatureSpec
from umair_models.layers import MLP, CrossNet, CrossNetMix, CrossNetV2
from umair_models.models.base import Batch, CTRModel, ModelConfig


@dataclass(frozen=True)
class DCNConfig(ModelConfig):
    num_cross_layers: int = 3


class DCN(CTRModel):
    """x0 = flatten(E) [B, F*D]; logit = w^T [CrossNet(x0); MLP(x0)] + b."""

    config_class = DCNConfig

    def __init__(self, spec: FeatureSpec, config: DCNConfig = DCNConfig()) -> None:
        super().__init__(spec, config)
        self.embedding = self.make_embedding()
        d = self.embedding.num_fields * config.embedding_dim
        self.cross = CrossNet(d, config.num_cross_layers)
        self.dnn = MLP(d, config.dnn_hidden, dropout=config.dnn_dropout, batch_norm=config.batch_norm)
        self.head = nn.Linear(d + self.dnn.out_features, 1)

    def forward(self, batch: Batch) -> torch.Tensor:
        x0 = self.embed(batch).flatten(1)
        return self.head(torch.cat([self.cross(x0), self.dnn(x0)], 1)).squeeze(-1)


@dataclass(frozen=True)
class DCNV2Config(ModelConfig):
    num_cross_layers: int = 3
    structure: str = "parallel"  # "parallel" | "stacked" | "crossnet_only"
    low_rank: int | None = None  # None = full-rank CrossNetV2, else CrossNetMix with this rank
    num_experts: int = 4


class CrossDeep(nn.Module):
    """The DCN-V2 body on a given x0 [B, d] -> hidden [B, h], shared with UMAIR-FPS.

    parallel: [Cross(x0); MLP(x0)]; stacked: MLP(Cross(x0)); crossnet_only: Cross(x0).
    """

    def __init__(self, in_features: int, config: DCNV2Config, cross: bool = True) -> None:
        super().__init__()
        self.structure = config.structure if cross else "dnn_only"
        if cross:
            self.cross = (
                CrossNetV2(in_features, config.num_cross_layers)
                if config.low_rank is None
                else CrossNetMix(in_features, config.num_cross_layers, config.low_rank, config.num_experts)
            )
        if self.structure != "crossnet_only":
            self.dnn = MLP(in_features, config.dnn_hidden, dropout=config.dnn_dropout, batch_norm=config.batch_norm)
        if self.structure == "parallel":
            self.out_features = in_features + self.dnn.out_features
        elif self.structure == "crossnet_only":
            self.out_features = in_features
        else:
            self.out_features = self.dnn.out_features

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        if self.structure == "parallel":
            return torch.cat([self.cross(x0), self.dnn(x0)], 1)
        if self.structure == "stacked":
            return self.dnn(self.cross(x0))
        if self.structure == "crossnet_only":
            return self.cross(x0)
        return self.dnn(x0)


class DCNV2(CTRModel):
    """x0 = flatten(E); logit = w^T CrossDeep(x0) + b."""

    config_class = DCNV2Config

    def __init__(self, spec: FeatureSpec, config: DCNV2Config = DCNV2Config()) -> None:
        super().__init__(spec, config)
        self.embedding = self.make_embedding()
        self.body = CrossDeep(self.embedding.num_fields * config.embedding_dim, config)
        self.head = nn.Linear(self.body.out_features, 1)

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.head(self.body(self.embed(batch).flatten(1))).squeeze(-1)
