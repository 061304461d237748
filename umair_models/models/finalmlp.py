"""FinalMLP (Mao et al., AAAI 2023): two gated MLP streams fused by bilinear aggregation."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from umair_models.features import FeatureSpec
from umair_models.layers import MLP, FeatureGating, InteractionAggregation
from umair_models.models.base import Batch, CTRModel, ModelConfig


@dataclass(frozen=True)
class FinalMLPConfig(ModelConfig):
    mlp1_hidden: tuple[int, ...] = (400, 400, 400)
    mlp2_hidden: tuple[int, ...] = (800,)
    mlp1_dropout: float = 0.0
    mlp2_dropout: float = 0.0
    use_fs: bool = True
    fs_hidden: int = 800
    fs1_context: tuple[str, ...] = ()  # fields whose embeddings drive stream 1's gate ("" = learnable bias)
    fs2_context: tuple[str, ...] = ()
    num_heads: int = 1


class FinalMLP(CTRModel):
    config: FinalMLPConfig

    """x = flatten(E); o_k = MLP_k(gate_k ⊙ x); logit = InteractionAggregation(o_1, o_2)."""

    config_class = FinalMLPConfig

    def __init__(self, spec: FeatureSpec, config: FinalMLPConfig = FinalMLPConfig()) -> None:
        super().__init__(spec, config)
        self.embedding = self.make_embedding()
        names, d = self.embedding.field_names, config.embedding_dim
        x_dim = len(names) * d
        self.ctx1 = [names.index(n) for n in config.fs1_context]
        self.ctx2 = [names.index(n) for n in config.fs2_context]
        if config.use_fs:
            self.gate1 = FeatureGating(x_dim, len(self.ctx1) * d, config.fs_hidden, d)
            self.gate2 = FeatureGating(x_dim, len(self.ctx2) * d, config.fs_hidden, d)
        self.mlp1 = MLP(x_dim, config.mlp1_hidden, dropout=config.mlp1_dropout, batch_norm=config.batch_norm)
        self.mlp2 = MLP(x_dim, config.mlp2_hidden, dropout=config.mlp2_dropout, batch_norm=config.batch_norm)
        self.fusion = InteractionAggregation(self.mlp1.out_features, self.mlp2.out_features, config.num_heads)

    def forward(self, batch: Batch) -> torch.Tensor:
        e = self.embed(batch)
        x = e.flatten(1)
        x1 = x2 = x
        if self.config.use_fs:
            x1 = self.gate1(x, e[:, self.ctx1].flatten(1) if self.ctx1 else None)
            x2 = self.gate2(x, e[:, self.ctx2].flatten(1) if self.ctx2 else None)
        return self.fusion(self.mlp1(x1), self.mlp2(x2))
