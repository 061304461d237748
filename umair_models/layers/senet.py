"""Field-importance and pairwise interactions: SENET and bilinear (FiBiNET), FM (DIFM)."""

from __future__ import annotations

import itertools

import torch
from torch import nn


class SENET(nn.Module):
    """Squeeze-excitation over fields (FiBiNET eq. 1-3): [B, F, D] -> [B, F, D].

    z = mean_D(E) [B, F]; A = ReLU(W2 ReLU(W1 z)) [B, F]; output E * A.
    """

    def __init__(self, num_fields: int, reduction_ratio: float = 3.0) -> None:
        super().__init__()
        hidden = max(1, int(num_fields / reduction_ratio))
        self.excitation = nn.Sequential(
            nn.Linear(num_fields, hidden, bias=False), nn.ReLU(), nn.Linear(hidden, num_fields, bias=False), nn.ReLU()
        )

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        return self.excitation(x.mean(-1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weights(x).unsqueeze(-1)


class BilinearInteraction(nn.Module):
    """p_ij = (v_i W) ⊙ v_j for i < j (FiBiNET eq. 5-7): [B, F, D] -> [B, F(F-1)/2, D].

    bilinear_type: "field_all" (one W), "field_each" (W_i per field), "field_interaction" (W_ij).
    """

    left: torch.Tensor  # [P] first field of each pair
    right: torch.Tensor  # [P] second field of each pair

    def __init__(self, num_fields: int, embedding_dim: int, bilinear_type: str = "field_interaction") -> None:
        super().__init__()
        self.pairs = list(itertools.combinations(range(num_fields), 2))
        self.bilinear_type = bilinear_type
        n = {"field_all": 1, "field_each": num_fields, "field_interaction": len(self.pairs)}[bilinear_type]
        self.W = nn.Parameter(nn.init.xavier_normal_(torch.empty(n, embedding_dim, embedding_dim)))
        self.register_buffer("left", torch.tensor([i for i, _ in self.pairs], dtype=torch.long), persistent=False)
        self.register_buffer("right", torch.tensor([j for _, j in self.pairs], dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        vi, vj = x[:, self.left], x[:, self.right]  # [B, P, D]
        if self.bilinear_type == "field_all":
            w = self.W[0]
            return torch.matmul(vi, w) * vj
        w = self.W[self.left] if self.bilinear_type == "field_each" else self.W  # [P, D, D]
        return torch.einsum("bpd,pde->bpe", vi, w) * vj


class FMInteraction(nn.Module):
    """FM second-order term 1/2 [(sum_i v_i)^2 - sum_i v_i^2] summed over D: [B, F, D] -> [B]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (x.sum(1).pow(2) - x.pow(2).sum(1)).sum(-1)
