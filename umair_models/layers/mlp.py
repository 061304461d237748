"""MLP block: [Linear -> (BatchNorm) -> activation -> (Dropout)] x n, optional output layer."""

from __future__ import annotations

from torch import nn


def activation(name: str) -> nn.Module:
    return {
        "relu": nn.ReLU(),
        "gelu": nn.GELU(),
        "sigmoid": nn.Sigmoid(),
        "tanh": nn.Tanh(),
        "prelu": nn.PReLU(),
        "silu": nn.SiLU(),
    }[name.lower()]


class MLP(nn.Sequential):
    """[B, in_features] -> [B, out_features or hidden_units[-1] or in_features]."""

    def __init__(
        self,
        in_features: int,
        hidden_units: list[int] | tuple[int, ...],
        out_features: int | None = None,
        act: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
        output_bias: bool = True,
    ) -> None:
        layers: list[nn.Module] = []
        width = in_features
        for units in hidden_units:
            layers.append(nn.Linear(width, units))
            if batch_norm:
                layers.append(nn.BatchNorm1d(units))
            layers.append(activation(act))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = units
        if out_features is not None:
            layers.append(nn.Linear(width, out_features, bias=output_bias))
            width = out_features
        super().__init__(*layers)
        self.out_features = width
