"""Field embeddings, first-order (linear) logits and frozen pretrained-vector lookup."""
from __future__ import annotations

import torch
from torch import nn

from umair_models.features import FeatureSpec, FieldSpec

Batch = dict[str, torch.Tensor]


def _pool(emb: nn.Embedding, idx: torch.Tensor) -> torch.Tensor:
    """Mean of the non-padding rows: idx [B, L] (0 = padding) -> [B, D]; all-padding -> zeros."""
    vectors = emb(idx)                                     # [B, L, D]
    mask = (idx > 0).unsqueeze(-1).to(vectors.dtype)      # [B, L, 1]
    return (vectors * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class FeatureEmbedding(nn.Module):
    """One D-dim embedding per sparse field (categorical, multi-valued, numeric).

    Categorical: nn.Embedding lookup. Multi-valued: mean of its non-padding embeddings.
    Numeric [B] or [B, d]: a bias-free Linear(d -> D) (FuxiCTR's convention). Optionally the
    pretrained item vectors too, each projected by a trainable Linear(dim -> D).

    forward(batch, pretrained) -> [B, F, D], fields in `self.field_names` order.
    """

    def __init__(self, fields: list[FieldSpec], embedding_dim: int, pretrained: list[FieldSpec] = ()) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.fields = [f for f in fields if f.kind != "pretrained"]
        self.pretrained = list(pretrained)
        self.tables = nn.ModuleDict()
        self.numeric = nn.ModuleDict()
        for f in self.fields:
            if f.kind == "numeric":
                self.numeric[f.name] = nn.Linear(f.dim, embedding_dim, bias=False)
            else:
                self.tables[f.name] = nn.Embedding(f.vocab_size, embedding_dim, padding_idx=0 if f.kind == "multi_categorical" else None)
                nn.init.normal_(self.tables[f.name].weight, std=1e-2)  # FuxiCTR / DCN-V2 reference init
        self.projections = nn.ModuleDict({f.name: nn.Linear(f.dim, embedding_dim) for f in self.pretrained})

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields] + [f.name for f in self.pretrained]

    @property
    def num_fields(self) -> int:
        return len(self.fields) + len(self.pretrained)

    def forward(self, batch: Batch, pretrained: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        out = []
        for f in self.fields:
            x = batch[f.name]
            if f.kind == "numeric":
                out.append(self.numeric[f.name](x.float().reshape(x.shape[0], -1)))
            elif f.kind == "multi_categorical":
                out.append(_pool(self.tables[f.name], x.long()))
            else:
                out.append(self.tables[f.name](x.long()))
        for f in self.pretrained:
            out.append(self.projections[f.name](pretrained[f.name]))
        return torch.stack(out, dim=1)

    def l2_penalty(self) -> torch.Tensor:
        """sum ||W||^2 / 2 over embedding tables (the paper's L2 on embeddings; FuxiCTR form)."""
        return sum((t.weight.pow(2).sum() for t in self.tables.values()), torch.zeros(())) / 2


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

    def __init__(self, num_items: int, dim: int, dtype: torch.dtype = torch.float16) -> None:
        super().__init__()
        self.register_buffer("vectors", torch.zeros(num_items, dim, dtype=dtype))
        self.register_buffer("present", torch.zeros(num_items, dtype=torch.bool))

    def load(self, vectors: torch.Tensor, present: torch.Tensor) -> None:
        if vectors.shape != self.vectors.shape:
            raise ValueError(f"expected vectors of shape {tuple(self.vectors.shape)}, got {tuple(vectors.shape)}")
        self.vectors.copy_(vectors.to(self.vectors.dtype))
        self.present.copy_(present.bool())

    def forward(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        idx = idx.long()
        return self.vectors[idx].float(), self.present[idx]


def spec_pretrained(spec: FeatureSpec) -> list[FieldSpec]:
    return spec.of_kind("pretrained")
