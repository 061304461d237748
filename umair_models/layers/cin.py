"""Compressed Interaction Network (xDeepFM, Lian et al. 2018)."""

from __future__ import annotations

import torch
from torch import nn


class CIN(nn.Module):
    """[B, F, D] -> [B, sum of output feature maps].

    Layer k: Z^k = outer(X^{k-1}, X^0) over fields, [B, H_{k-1} * F, D]; X^k = W^k * Z^k (a 1x1
    convolution over the H_{k-1} * F axis) -> [B, H_k, D]. With split_half (the paper's default),
    half of each hidden layer's maps feed the next layer and half go to the output. Each output map
    is sum-pooled over D.
    """

    def __init__(
        self, num_fields: int, layer_sizes: list[int] | tuple[int, ...] = (200, 200, 200), split_half: bool = True
    ) -> None:
        super().__init__()
        self.convs = nn.ModuleList()
        self.split_half = split_half
        prev, self.out_features = num_fields, 0
        for k, size in enumerate(layer_sizes):
            self.convs.append(nn.Conv1d(prev * num_fields, size, kernel_size=1))
            last = k == len(layer_sizes) - 1
            if split_half and not last:
                if size % 2:
                    raise ValueError("CIN layer sizes must be even with split_half")
                prev = size // 2
                self.out_features += size // 2
            else:
                prev = size
                self.out_features += size

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        b, f, d = x0.shape
        hidden, pooled = x0, []
        for k, conv in enumerate(self.convs):
            z = torch.einsum("bhd,bmd->bhmd", hidden, x0).reshape(b, -1, d)  # [B, H*F, D]
            x = torch.relu(conv(z))  # [B, H_k, D]
            if self.split_half and k < len(self.convs) - 1:
                hidden, direct = torch.split(x, x.shape[1] // 2, dim=1)
            else:
                hidden, direct = x, x
            pooled.append(direct.sum(-1))
        return torch.cat(pooled, dim=1)
