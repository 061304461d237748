"""Explicit feature crosses: DCN's CrossNet and DCN-V2's CrossNetV2 (full rank) / CrossNetMix."""

from __future__ import annotations

import torch
from torch import nn


class CrossNet(nn.Module):
    """DCN (Wang et al. 2017): x_{l+1} = x_0 (x_l^T w_l) + b_l + x_l.  [B, d] -> [B, d]."""

    def __init__(self, in_features: int, num_layers: int) -> None:
        super().__init__()
        self.w = nn.ParameterList(nn.Parameter(torch.randn(in_features) * in_features**-0.5) for _ in range(num_layers))
        self.b = nn.ParameterList(nn.Parameter(torch.zeros(in_features)) for _ in range(num_layers))

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x = x0
        for w, b in zip(self.w, self.b):
            x = x0 * (x @ w).unsqueeze(-1) + b + x
        return x


class CrossNetV2(nn.Module):
    """DCN-V2 (Wang et al. 2021), eq. 1: x_{l+1} = x_0 ⊙ (W_l x_l + b_l) + x_l.  [B, d] -> [B, d]."""

    def __init__(self, in_features: int, num_layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(in_features, in_features) for _ in range(num_layers))

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x = x0
        for layer in self.layers:
            x = x0 * layer(x) + x
        return x


class CrossNetMix(nn.Module):
    """DCN-V2's low-rank mixture of cross experts (its eq. 3-4).  [B, d] -> [B, d].

    x_{l+1} = sum_i G_i(x_l) E_i(x_l) + x_l,
    E_i(x_l) = x_0 ⊙ (U_i g(C_i g(V_i^T x_l)) + b_l),  g = tanh, rank r, gates G_i = softmax over i.
    """

    def __init__(self, in_features: int, num_layers: int, low_rank: int = 32, num_experts: int = 4) -> None:
        super().__init__()
        d, r, k = in_features, low_rank, num_experts
        self.U = nn.ParameterList(nn.Parameter(nn.init.xavier_normal_(torch.empty(k, d, r))) for _ in range(num_layers))
        self.V = nn.ParameterList(nn.Parameter(nn.init.xavier_normal_(torch.empty(k, d, r))) for _ in range(num_layers))
        self.C = nn.ParameterList(nn.Parameter(nn.init.xavier_normal_(torch.empty(k, r, r))) for _ in range(num_layers))
        self.bias = nn.ParameterList(nn.Parameter(torch.zeros(d, 1)) for _ in range(num_layers))
        self.gates = nn.ModuleList(nn.Linear(d, 1, bias=False) for _ in range(k))

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x0c = x0.unsqueeze(2)  # [B, d, 1]
        x = x0c
        for U, V, C, b in zip(self.U, self.V, self.C, self.bias):
            experts, gates = [], []
            for i in range(len(self.gates)):
                gates.append(self.gates[i](x.squeeze(2)))  # [B, 1]
                v = torch.tanh(torch.matmul(V[i].t(), x))  # [B, r, 1]
                v = torch.tanh(torch.matmul(C[i], v))  # [B, r, 1]
                uv = torch.matmul(U[i], v)  # [B, d, 1]
                experts.append((x0c * (uv + b)).squeeze(2))  # [B, d]
            e = torch.stack(experts, 2)  # [B, d, k]
            g = torch.softmax(torch.stack(gates, 1), 1)  # [B, k, 1]
            x = torch.matmul(e, g) + x  # [B, d, 1]
        return x.squeeze(2)
