"""Field embeddings, first-order (linear) logits and frozen pretrained-vector lookup."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from umair_models.features import FieldSpec
from umair_models.layers.principal import vector_projection

Batch = dict[str, torch.Tensor]


class FeatureEmbedding(nn.Module):
    """One D-dim embedding per sparse field (categorical, multi-valued, numeric).

    Categorical fields share ONE fused table with per-field row offsets (one gather and one
    backward per step instead of one per field; rows of a field are its own, so nothing is
    shared between fields). Multi-valued fields use nn.EmbeddingBag(mode="mean",
    padding_idx=0): the mean of the non-padding rows, zeros when all padding. Numeric [B] or
    [B, d]: a bias-free Linear(d -> D) (FuxiCTR's convention). Optionally the pretrained item
    vectors too, each projected by a trainable Linear(dim -> D) (through its first
    `vector_components` principal components when that is set: `layers.principal`).

    forward(batch, pretrained) -> [B, F, D], fields in `self.field_names` order (the spec's order,
    pretrained fields last).
    """

    offsets: torch.Tensor  # [F_cat] first row of each categorical field in the fused table
    order: torch.Tensor  # [F] position of each field after grouping by kind

    def __init__(
        self,
        fields: list[FieldSpec],
        embedding_dim: int,
        pretrained: Sequence[FieldSpec] = (),
        vector_components: int = 0,
    ) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.fields = [f for f in fields if f.kind in ("categorical", "multi_categorical", "numeric")]
        self.pretrained = list(pretrained)
        self.categorical = [f for f in self.fields if f.kind == "categorical"]
        self.multi = [f for f in self.fields if f.kind == "multi_categorical"]
        self.numeric_fields = [f for f in self.fields if f.kind == "numeric"]
        sizes = [f.vocab_size for f in self.categorical]
        self.fused = nn.Embedding(max(1, sum(sizes)), embedding_dim) if sizes else None
        if self.fused is not None:
            nn.init.normal_(self.fused.weight, std=1e-2)  # FuxiCTR / DCN-V2 reference init
        offsets = (
            torch.tensor([0] + sizes[:-1], dtype=torch.long).cumsum(0) if sizes else torch.zeros(0, dtype=torch.long)
        )
        self.register_buffer("offsets", offsets, persistent=False)
        self.bags = nn.ModuleDict(
            {f.name: nn.EmbeddingBag(f.vocab_size, embedding_dim, mode="mean", padding_idx=0) for f in self.multi}
        )
        for bag in self.bags.values():
            weight: torch.Tensor = bag.weight  # type: ignore[assignment]  # ModuleDict values are EmbeddingBags
            nn.init.normal_(weight, std=1e-2)
            with torch.no_grad():
                weight[0].zero_()
        self.numeric = nn.ModuleDict({f.name: nn.Linear(f.dim, embedding_dim, bias=False) for f in self.numeric_fields})
        self.projections = nn.ModuleDict(
            {f.name: vector_projection(f.dim, embedding_dim, vector_components) for f in self.pretrained}
        )
        grouped = self.categorical + self.multi + self.numeric_fields
        order = [grouped.index(f) for f in self.fields]
        self.reorder = order != list(range(len(order)))  # fields back in spec order after grouping
        self.register_buffer("order", torch.tensor(order, dtype=torch.long), persistent=False)

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields] + [f.name for f in self.pretrained]

    @property
    def num_fields(self) -> int:
        return len(self.fields) + len(self.pretrained)

    def field_table(self, name: str) -> torch.Tensor:
        """The embedding rows of one categorical or multi-valued field: [vocab_size, D]."""
        if name in self.bags:
            weight: torch.Tensor = self.bags[name].weight  # type: ignore[assignment]
            return weight
        k = [f.name for f in self.categorical].index(name)
        start = int(self.offsets[k])
        assert self.fused is not None  # name is a categorical field, so the fused table exists
        return self.fused.weight[start : start + self.categorical[k].vocab_size]

    def forward(self, batch: Batch, pretrained: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        parts = []
        if self.categorical and self.fused is not None:
            idx = torch.stack([batch[f.name].long() for f in self.categorical], 1) + self.offsets  # [B, F_cat]
            parts.append(self.fused(idx))  # [B, F_cat, D]
        for f in self.multi:
            parts.append(self.bags[f.name](batch[f.name].long()).unsqueeze(1))  # [B, 1, D]
        for f in self.numeric_fields:
            x = batch[f.name]
            parts.append(self.numeric[f.name](x.float().reshape(x.shape[0], -1)).unsqueeze(1))
        out = torch.cat(parts, 1) if len(parts) > 1 else parts[0]
        if self.reorder:
            out = out[:, self.order]
        if self.pretrained:
            if pretrained is None:
                raise ValueError(
                    f"this embedding projects pretrained fields {[f.name for f in self.pretrained]}: pass them"
                )
            out = torch.cat(
                [out] + [self.projections[f.name](pretrained[f.name]).unsqueeze(1) for f in self.pretrained], 1
            )
        return out

    def l2_penalty(self) -> torch.Tensor:
        """sum ||W||^2 / 2 over embedding tables (the paper's L2 on embeddings; FuxiCTR form)."""
        tables: list[torch.Tensor] = [self.fused.weight] if self.fused is not None else []
        tables += [b.weight for b in self.bags.values()]  # type: ignore[misc]  # ModuleDict values are EmbeddingBags
        total = torch.zeros((), device=tables[0].device if tables else None)
        for w in tables:
            total = total + w.pow(2).sum()
        return total / 2


class LinearLogit(nn.Module):
    """First-order term sum_i w_i x_i + b over sparse fields: batch -> [B].

    `field_weights` [B, F] (DIFM's input-aware re-weighting) scales each field's term.
    """

    def __init__(self, fields: list[FieldSpec]) -> None:
        super().__init__()
        self.inner = FeatureEmbedding(fields, 1)
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, batch: Batch, field_weights: torch.Tensor | None = None) -> torch.Tensor:
        terms = self.inner(batch).squeeze(-1)  # [B, F]
        if field_weights is not None:
            terms = terms * field_weights
        return terms.sum(1) + self.bias


class PretrainedLookup(nn.Module):
    """Frozen per-item vectors: buffers `vectors` [N, dim] and `present` [N] (modality available).

    forward(idx [B]) -> (vectors [B, dim] float32, present [B] bool). Rows for unknown items
    (index 0) are zeros with present = False. Stored as float16 (as in `item_features`) to halve
    device memory; gathered rows are cast to float32. Buffers move with .to(device) and are saved
    in state_dict, but are not parameters, so they neither train nor count as parameters.
    """

    vectors: torch.Tensor  # [N, dim]
    present: torch.Tensor  # [N] bool

    def __init__(self, num_items: int, dim: int, dtype: torch.dtype = torch.float16) -> None:
        super().__init__()
        # calloc'd zeros (numpy): the OS maps the pages only when written, so a model built to be served
        # from its export (use_item_side) never holds this raw-width table in memory
        zeros = np.zeros((num_items, dim), torch.empty(0, dtype=dtype).numpy().dtype)
        self.register_buffer("vectors", torch.from_numpy(zeros))
        self.register_buffer("present", torch.zeros(num_items, dtype=torch.bool))

    def load(self, vectors: torch.Tensor, present: torch.Tensor) -> None:
        """Take `vectors` [N, dim] as the table (no copy when it is already float16 on this device:
        at 1.88 M items a copy would be another 5.8 GB) and `present` [N]."""
        if vectors.shape != self.vectors.shape:
            raise ValueError(f"expected vectors of shape {tuple(self.vectors.shape)}, got {tuple(vectors.shape)}")
        self.vectors = vectors.to(self.vectors.device, self.vectors.dtype)
        self.present.copy_(present.bool())

    def forward(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        idx = idx.long()
        return self.vectors[idx].float(), self.present[idx]
