"""Multi-head self-attention over fields (AutoInt-style, used by DIFM's vector-wise part)."""

from __future__ import annotations

import torch
from torch import nn


class MultiHeadSelfAttention(nn.Module):
    """[B, F, D] -> [B, F, A] with A = attention_dim.

    Per head h: softmax(Q_h K_h^T / sqrt(d_h)) V_h; heads concatenated; a residual projection of the
    input is added (AutoInt), then ReLU; optional LayerNorm.
    """

    def __init__(
        self,
        embedding_dim: int,
        attention_dim: int | None = None,
        num_heads: int = 2,
        use_residual: bool = True,
        layer_norm: bool = False,
    ) -> None:
        super().__init__()
        attention_dim = attention_dim or embedding_dim
        if attention_dim % num_heads:
            raise ValueError("attention_dim must be divisible by num_heads")
        self.num_heads, self.head_dim = num_heads, attention_dim // num_heads
        self.qkv = nn.Linear(embedding_dim, 3 * attention_dim, bias=False)
        self.residual = nn.Linear(embedding_dim, attention_dim, bias=False) if use_residual else None
        self.norm = nn.LayerNorm(attention_dim) if layer_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, f, _ = x.shape
        q, k, v = self.qkv(x).view(b, f, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)  # [B, H, F, d_h] each
        scores = torch.softmax(q @ k.transpose(-1, -2) / self.head_dim**0.5, dim=-1)  # [B, H, F, F]
        out = (scores @ v).transpose(1, 2).reshape(b, f, -1)  # [B, F, A]
        if self.residual is not None:
            out = out + self.residual(x)
        out = torch.relu(out)
        return self.norm(out) if self.norm is not None else out
