"""DIFM (Lu et al., IJCAI 2021): dual input-aware factorization machine."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from umair_models.features import FeatureSpec
from umair_models.layers import MLP, FMInteraction, LinearLogit, MultiHeadSelfAttention
from umair_models.models.base import Batch, CTRModel, ModelConfig


@dataclass(frozen=True)
class DIFMConfig(ModelConfig):
    att_heads: int = 4
    att_dim: int = 16
    use_residual: bool = True


class DIFM(CTRModel):
    """Input-aware field weights m_x = m_vec + m_bit re-weight an FM (DIFM eq. 11-14).

    m_vec [B, F] = P_vec flatten(MultiHeadSelfAttention(E)) (vector-wise),
    m_bit [B, F] = P_bit MLP(flatten(E)) (bit-wise),
    logit = b + sum_i m_i w_i x_i + FM(m ⊙ E).
    """

    config_class = DIFMConfig

    def __init__(self, spec: FeatureSpec, config: DIFMConfig = DIFMConfig()) -> None:
        super().__init__(spec, config)
        self.embedding = self.make_embedding()
        f, d = self.embedding.num_fields, config.embedding_dim
        self.linear = LinearLogit(spec.sparse)
        self.attention = MultiHeadSelfAttention(d, config.att_dim, config.att_heads, config.use_residual)
        self.vector_wise = nn.Linear(f * config.att_dim, f, bias=False)
        self.bit_wise = MLP(
            f * d,
            config.dnn_hidden,
            out_features=f,
            dropout=config.dnn_dropout,
            batch_norm=config.batch_norm,
            output_bias=False,
        )
        self.fm = FMInteraction()
        self.n_sparse = len(spec.sparse)

    def forward(self, batch: Batch) -> torch.Tensor:
        e = self.embed(batch)
        m = self.vector_wise(self.attention(e).flatten(1)) + self.bit_wise(e.flatten(1))  # [B, F]
        return self.linear(batch, m[:, : self.n_sparse]) + self.fm(e * m.unsqueeze(-1))
