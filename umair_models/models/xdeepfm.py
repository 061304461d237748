"""xDeepFM (Lian et al., KDD 2018): linear + CIN + DNN."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from umair_models.features import FeatureSpec
from umair_models.layers import CIN, MLP, LinearLogit
from umair_models.models.base import Batch, CTRModel, ModelConfig


@dataclass(frozen=True)
class XDeepFMConfig(ModelConfig):
    cin_layer_sizes: tuple[int, ...] = (200, 200, 200)
    cin_split_half: bool = True


class XDeepFM(CTRModel):
    """logit = linear(x) + w_cin^T CIN(E) + MLP(flatten(E)) (xDeepFM eq. 10)."""

    config_class = XDeepFMConfig

    def __init__(self, spec: FeatureSpec, config: XDeepFMConfig = XDeepFMConfig()) -> None:
        super().__init__(spec, config)
        self.embedding = self.make_embedding()
        f = self.embedding.num_fields
        self.linear = LinearLogit(spec.sparse)
        self.cin = CIN(f, config.cin_layer_sizes, config.cin_split_half)
        self.cin_head = nn.Linear(self.cin.out_features, 1)
        self.dnn = MLP(
            f * config.embedding_dim,
            config.dnn_hidden,
            out_features=1,
            dropout=config.dnn_dropout,
            batch_norm=config.batch_norm,
        )

    def forward(self, batch: Batch) -> torch.Tensor:
        e = self.embed(batch)
        return self.linear(batch) + self.cin_head(self.cin(e)).squeeze(-1) + self.dnn(e.flatten(1)).squeeze(-1)
