"""A frozen item vector's first map, optionally through its leading principal components.

`vector_projection(dim, width, components)` is what every model puts between a frozen item vector
[B, dim] and its width: a plain Linear(dim -> width) when `components` is 0 (or not below dim), else
`PrincipalProjection`: the vector centred, rotated onto its first `components` principal directions
over the catalogue, each scaled to unit variance (whitened), then Linear(components -> width).

Why: item vectors from a pretrained encoder spread their catalogue-level signal over a few
directions (the demo's image vectors: 93-97% of the variance in 16 of 256 / 512) and the rest is
per-item detail; a full-width Linear can use that detail as one more item-id embedding, and the
directions that separate styles start at very different scales. The basis is fitted once on the
frozen table (no labels: a function of item content only) and saved with the model as buffers, so
training, a resumed or warm-started run and the serving export all use the same one.
"""

from __future__ import annotations

import torch
from torch import nn

ROWS_PER_STEP = 65_536  # rows summed at a time when fitting: a float64 scratch of ROWS_PER_STEP x dim


class PrincipalProjection(nn.Module):
    """x [B, dim] -> Linear(components -> width)(((x - mean) @ basis)) [B, width].

    Buffers (saved in state_dict, not trained): `mean` [dim], `basis` [dim, components] (principal
    directions divided by the square root of their variance), `fitted` [] bool. `fit` sets them from
    the frozen table; until then the map is the identity on the first `components` coordinates.
    """

    mean: torch.Tensor
    basis: torch.Tensor
    fitted: torch.Tensor

    def __init__(self, dim: int, components: int, width: int) -> None:
        super().__init__()
        if not 0 < components < dim:
            raise ValueError(f"components must be in [1, {dim}) for a {dim}-wide vector, got {components}")
        self.dim, self.components = dim, components
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("basis", torch.eye(dim, components))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        self.linear = nn.Linear(components, width)

    @property
    def weight(self) -> torch.Tensor:
        """The trainable map's weight [width, components] (what `vector_l2` penalises)."""
        return self.linear.weight

    @torch.no_grad()
    def fit(self, vectors: torch.Tensor, present: torch.Tensor) -> None:
        """Principal directions of `vectors` [N, dim] (any float dtype) over the rows where `present` [N]
        is True, summed in float64 ROWS_PER_STEP rows at a time. Each direction's sign is fixed (its
        largest entry positive) so the same table always gives the same basis."""
        rows = present.bool().nonzero().squeeze(1)
        if len(rows) <= self.components:
            raise ValueError(f"{len(rows)} items have this vector: too few for {self.components} principal components")
        total = torch.zeros(self.dim, dtype=torch.float64)
        outer = torch.zeros(self.dim, self.dim, dtype=torch.float64)
        for start in range(0, len(rows), ROWS_PER_STEP):
            x = vectors[rows[start : start + ROWS_PER_STEP]].to("cpu", torch.float64)
            total += x.sum(0)
            outer += x.T @ x
        mean = total / len(rows)
        covariance = outer / len(rows) - torch.outer(mean, mean)
        values, directions = torch.linalg.eigh(covariance)  # ascending
        values, directions = values.flip(0)[: self.components], directions.flip(1)[:, : self.components]
        largest = directions.abs().argmax(0)
        directions = directions * torch.sign(directions[largest, torch.arange(self.components)])
        floor = values[0].clamp(min=1e-12) * 1e-6  # a direction without variance is not blown up
        basis = directions / values.clamp(min=floor).sqrt()
        self.mean.copy_(mean.to(self.mean.dtype))
        self.basis.copy_(basis.to(self.basis.dtype))
        self.fitted.fill_(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear((x - self.mean) @ self.basis)


def vector_projection(dim: int, width: int, components: int = 0) -> nn.Module:
    """The first map of a frozen `dim`-wide item vector: Linear(dim -> width), or a PrincipalProjection
    when 0 < components < dim."""
    if components < 0:
        raise ValueError(f"vector_components must be 0 (all) or positive, got {components}")
    if components == 0 or components >= dim:
        return nn.Linear(dim, width)
    return PrincipalProjection(dim, components, width)


def fit_projection(projection: nn.Module, vectors: torch.Tensor, present: torch.Tensor) -> None:
    """Fit `projection` on the frozen table when it is a PrincipalProjection not fitted yet (a basis
    restored from a checkpoint or an earlier run is kept)."""
    if isinstance(projection, PrincipalProjection) and not bool(projection.fitted):
        projection.fit(vectors, present)
