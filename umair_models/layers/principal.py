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

`codes` (beyond the paper, optional): the whitened coordinates are also clustered over the catalogue
(k-means, K `codes`) and each item gets its cluster's trainable embedding [width] added, started at
zero. A cluster code is a discrete id shared by items of similar content (a "semantic id"): where a
vector's signal is a category (a style, a subject), the model can learn a free embedding per
category, as it does from a one-hot attribute, instead of reading it through one linear map.
"""

from __future__ import annotations

import torch
from torch import nn

ROWS_PER_STEP = 65_536  # rows summed at a time when fitting: a float64 scratch of ROWS_PER_STEP x dim
KMEANS_ITERATIONS = 50  # Lloyd steps at most (the tiny and demo catalogues settle in 10-30)
KMEANS_SEED = 0  # k-means++ draws: fixed, so the same table always gives the same codes


class PrincipalProjection(nn.Module):
    """x [B, dim] -> z = (x - mean) @ basis [B, components] -> Linear(components -> width)(z)
    (+ code_table[nearest centroid of z] when `codes` > 0) [B, width].

    Buffers (saved in state_dict, not trained): `mean` [dim], `basis` [dim, components] (principal
    directions divided by the square root of their variance), `centroids` [codes, components],
    `fitted` [] bool. `fit` sets them from the frozen table; until then the map is the identity on
    the first `components` coordinates and every row has code 0.
    """

    mean: torch.Tensor
    basis: torch.Tensor
    centroids: torch.Tensor
    fitted: torch.Tensor

    def __init__(self, dim: int, components: int, width: int, codes: int = 0) -> None:
        super().__init__()
        if not 0 < components <= dim:
            raise ValueError(f"components must be in [1, {dim}] for a {dim}-wide vector, got {components}")
        if codes < 0:
            raise ValueError(f"vector_codes must be 0 (none) or positive, got {codes}")
        self.dim, self.components, self.num_codes = dim, components, codes
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("basis", torch.eye(dim, components))
        self.register_buffer("centroids", torch.zeros(codes, components))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        self.linear = nn.Linear(components, width)
        self.code_table = nn.Embedding(codes, width) if codes else None
        if self.code_table is not None:
            nn.init.zeros_(self.code_table.weight)  # starts as the plain projection; learns per-code offsets

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
        if self.num_codes:
            points = torch.cat(
                [self.whiten(vectors[rows[s : s + ROWS_PER_STEP]]) for s in range(0, len(rows), ROWS_PER_STEP)]
            )
            self.centroids.copy_(kmeans(points, self.num_codes))
        self.fitted.fill_(True)

    def whiten(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, dim] -> its whitened principal coordinates z [B, components] (float32)."""
        return (x.to(self.mean.device, torch.float32) - self.mean) @ self.basis

    def code(self, z: torch.Tensor) -> torch.Tensor:
        """Whitened coordinates z [B, components] -> the index of each row's nearest centroid [B] (long)."""
        return nearest(z, self.centroids)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.mean) @ self.basis
        out = self.linear(z)
        if self.code_table is not None:
            out = out + self.code_table(self.code(z))
        return out


def nearest(points: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """points [N, C], centroids [K, C] -> index of each point's nearest centroid [N] (squared Euclidean)."""
    distances = (centroids * centroids).sum(1) - 2 * points @ centroids.T  # [N, K] (+ |p|^2, same per row)
    return distances.argmin(1)


def kmeans(points: torch.Tensor, k: int, iterations: int = KMEANS_ITERATIONS) -> torch.Tensor:
    """Lloyd's k-means from a seeded k-means++ start: points [N, C] (float32) -> centroids [k, C].
    Deterministic for a given table. A cluster left empty keeps its previous centroid; with fewer
    distinct points than k, some centroids repeat and their codes stay unused."""
    g = torch.Generator().manual_seed(KMEANS_SEED)
    cpu = points.cpu()
    chosen = [int(torch.randint(len(cpu), (1,), generator=g))]
    closest = ((cpu - cpu[chosen[0]]) ** 2).sum(1)  # [N] squared distance to the nearest chosen centroid
    for _ in range(1, k):
        weights = closest / closest.sum() if float(closest.sum()) > 0 else torch.ones(len(cpu)) / len(cpu)
        chosen.append(int(torch.multinomial(weights, 1, generator=g)))
        closest = torch.minimum(closest, ((cpu - cpu[chosen[-1]]) ** 2).sum(1))
    centroids = cpu[chosen].clone()
    assignment = torch.full((len(cpu),), -1, dtype=torch.long)
    for _ in range(iterations):
        updated = torch.cat([nearest(cpu[s : s + ROWS_PER_STEP], centroids) for s in range(0, len(cpu), ROWS_PER_STEP)])
        if torch.equal(updated, assignment):
            break
        assignment = updated
        sums = torch.zeros_like(centroids).index_add_(0, assignment, cpu)
        counts = torch.bincount(assignment, minlength=k).unsqueeze(1)
        centroids = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
    return centroids


def vector_projection(dim: int, width: int, components: int = 0, codes: int = 0) -> nn.Module:
    """The first map of a frozen `dim`-wide item vector: Linear(dim -> width), or a PrincipalProjection
    when 0 < components < dim, or with `codes` k-means codes of the whitened coordinates (all `dim`
    of them when components >= dim)."""
    if components < 0:
        raise ValueError(f"vector_components must be 0 (all) or positive, got {components}")
    if codes < 0:
        raise ValueError(f"vector_codes must be 0 (none) or positive, got {codes}")
    if codes and not components:
        raise ValueError("vector_codes clusters the principal coordinates: set vector_components too")
    if components == 0 or (components >= dim and not codes):
        return nn.Linear(dim, width)
    return PrincipalProjection(dim, min(components, dim), width, codes)


def fit_projection(projection: nn.Module, vectors: torch.Tensor, present: torch.Tensor) -> None:
    """Fit `projection` on the frozen table when it is a PrincipalProjection not fitted yet (a basis
    restored from a checkpoint or an earlier run is kept)."""
    if isinstance(projection, PrincipalProjection) and not bool(projection.fitted):
        projection.fit(vectors, present)
