"""FinalMLP's stream-specific feature gating and multi-head bilinear interaction aggregation."""

from __future__ import annotations

import torch
from torch import nn

from umair_models.layers.mlp import MLP


class FeatureGating(nn.Module):
    """x' = 2 sigmoid(MLP(context)) ⊙ x  (FinalMLP eq. 4-5): x [B, d] -> [B, d].

    `context` [B, c] are the embeddings of the selected fields; with none selected (c = 0) the
    gate input is a learnable vector, as in the reference implementation.
    """

    def __init__(self, in_features: int, context_features: int, hidden: int, bias_features: int = 8) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, bias_features)) if context_features == 0 else None
        self.gate = MLP(context_features or bias_features, [hidden], out_features=in_features, act="relu")

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        c = self.bias.expand(x.shape[0], -1) if self.bias is not None else context
        return 2 * torch.sigmoid(self.gate(c)) * x


class InteractionAggregation(nn.Module):
    """y = b + w1^T o1 + w2^T o2 + sum_h o1_h^T W_h o2_h  (FinalMLP eq. 8-9): -> [B]."""

    def __init__(self, x_dim: int, y_dim: int, num_heads: int = 1) -> None:
        super().__init__()
        if x_dim % num_heads or y_dim % num_heads:
            raise ValueError("stream widths must be divisible by num_heads")
        self.num_heads, self.hx, self.hy = num_heads, x_dim // num_heads, y_dim // num_heads
        self.w_x, self.w_y = nn.Linear(x_dim, 1), nn.Linear(y_dim, 1)
        self.w_xy = nn.Parameter(nn.init.xavier_normal_(torch.empty(num_heads, self.hx, self.hy)))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        xh = x.view(-1, self.num_heads, self.hx)
        yh = y.view(-1, self.num_heads, self.hy)
        bilinear = torch.einsum("bhx,hxy,bhy->b", xh, self.w_xy, yh)
        return (self.w_x(x) + self.w_y(y)).squeeze(-1) + bilinear
