"""What every ranker shares: typed config, pretrained-vector lookups, L2 term, parameter count.

A model computes logits and nothing more: no optimizer, device placement, loss or paths.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from umair_models.config_files import load_dataclass
from umair_models.features import FeatureSpec
from umair_models.layers.embedding import FeatureEmbedding, PretrainedLookup
from umair_models.layers.principal import PrincipalProjection, fit_projection

Batch = dict[str, torch.Tensor]


@dataclass(frozen=True)
class ModelConfig:
    """Defaults of the paper's setting: embedding dim 8, L2 1e-3 on embeddings."""

    embedding_dim: int = 8
    embedding_l2: float = 1e-3
    # L2 on the maps each frozen item vector goes through first (its Linear(dim -> width) weights): with a
    # unique vector per item such a map can act as one more item-id embedding, without the embeddings' L2
    vector_l2: float = 0.0
    # beyond the paper: each frozen item vector reaches its Linear through its first K principal components over
    # the catalogue, whitened (layers.principal); 0 keeps the whole vector, as the paper does
    vector_components: int = 0
    dnn_hidden: tuple[int, ...] = (400, 400, 400)
    dnn_dropout: float = 0.0
    batch_norm: bool = False
    use_pretrained: bool = False  # baselines: add the item's modality vectors as extra fields
    # "torch": each layer's PyTorch default, embeddings N(0, 1e-2); "xavier": FuxiCTR's reference scheme,
    # every Linear / Conv1d weight Xavier-normal with zero bias, embedding tables N(0, embedding_init_std)
    initializer: str = "torch"
    embedding_init_std: float = 1e-4

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ModelConfig:
        return load_dataclass(cls, dict(data or {}), f"{cls.__name__} settings")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


class CTRModel(nn.Module):
    """Base ranker. Subclasses implement `forward(batch) -> logits [B]`."""

    config_class: ClassVar[type[ModelConfig]] = ModelConfig

    def __init__(self, spec: FeatureSpec, config: ModelConfig) -> None:
        super().__init__()
        self.spec, self.config = spec, config
        self.pretrained_fields = spec.of_kind("pretrained") if self.uses_pretrained else []
        self.lookups = nn.ModuleDict(
            {f.name: PretrainedLookup(spec[f.lookup or ""].vocab_size, f.dim) for f in self.pretrained_fields}
        )

    @property
    def uses_pretrained(self) -> bool:
        return self.config.use_pretrained

    def make_embedding(self) -> FeatureEmbedding:
        return FeatureEmbedding(
            self.spec.sparse, self.config.embedding_dim, self.pretrained_fields, self.config.vector_components
        )

    def pretrained_inputs(self, batch: Batch) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Look up each pretrained field by its index field: name -> vectors [B, dim], present [B]."""
        vectors, present = {}, {}
        for f in self.pretrained_fields:
            vectors[f.name], present[f.name] = self.lookups[f.name](batch[f.lookup or ""])
        return vectors, present

    embedding: FeatureEmbedding  # set by each model (make_embedding, or its own)

    def embed(self, batch: Batch) -> torch.Tensor:
        """All fields as [B, F, D] (pretrained ones projected, when the model uses them)."""
        vectors, _ = self.pretrained_inputs(batch)
        return self.embedding(batch, vectors)

    def regularization(self) -> torch.Tensor:
        """embedding_l2 * sum ||W||^2 / 2 over embedding tables + vector_l2 * sum ||W||^2 / 2 over the
        item vectors' projection weights; add it to the loss."""
        penalties = [m.l2_penalty() for m in self.modules() if isinstance(m, FeatureEmbedding)]
        total = self.config.embedding_l2 * (torch.stack(penalties).sum() if penalties else torch.zeros(()))
        if self.config.vector_l2:
            maps = [
                m.weight
                for m in self.item_side_projections().values()
                if isinstance(m, (nn.Linear, PrincipalProjection))
            ]
            total = total + self.config.vector_l2 * sum((w.pow(2).sum() for w in maps), torch.zeros(())) / 2
        return total

    def initialize(self) -> None:
        """Apply `config.initializer` to the freshly built model (build_model calls it)."""
        if self.config.initializer == "torch":
            return
        if self.config.initializer != "xavier":
            raise ValueError(f"initializer must be 'torch' or 'xavier', got {self.config.initializer!r}")
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv1d)):
                nn.init.xavier_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.Embedding, nn.EmbeddingBag)):
                nn.init.normal_(m.weight, std=self.config.embedding_init_std)
                if m.padding_idx is not None:
                    with torch.no_grad():
                        m.weight[m.padding_idx].zero_()

    def load_pretrained(self, name: str, vectors: torch.Tensor, present: torch.Tensor) -> None:
        """Give the lookup of item vector `name` its frozen table [N, dim] and presence [N]; a principal
        projection not fitted yet (`vector_components`) is fitted on it."""
        if name in self.lookups:
            lookup: PretrainedLookup = self.lookups[name]  # type: ignore[assignment]
            lookup.load(vectors, present)
            fit_projection(self.item_side_projections()[name], lookup.vectors, lookup.present)

    def item_side_projections(self) -> nn.ModuleDict:
        """name -> the trainable map each frozen item vector goes through first ([B, dim] -> [B, W]).
        Nothing else in the model sees the raw vector, so its output can be precomputed per item."""
        return self.embedding.projections if self.pretrained_fields else nn.ModuleDict()

    @torch.no_grad()
    def export_item_side(self, chunk: int = 65_536) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """name -> (projected vectors [N, W] float16, present [N] bool): every item's frozen vector through
        its projection, computed once (in float32, `chunk` rows at a time) for serving. Rows of absent
        items are the projection of zeros, as the model computes them."""
        out = {}
        for f in self.pretrained_fields:
            lookup: PretrainedLookup = self.lookups[f.name]  # type: ignore[assignment]
            projection = self.item_side_projections()[f.name]
            rows = [projection(lookup.vectors[i : i + chunk].float()) for i in range(0, len(lookup.vectors), chunk)]
            out[f.name] = (torch.cat(rows).half(), lookup.present.clone())
        return out

    def use_item_side(self, exported: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Serve from `export_item_side`'s table: each lookup holds the projected rows and its projection
        becomes the identity, so forward() is unchanged and the raw vectors are never loaded."""
        projections = self.item_side_projections()
        if set(exported) != {f.name for f in self.pretrained_fields}:
            raise ValueError(
                f"the export holds {sorted(exported)}, the model projects {[f.name for f in self.pretrained_fields]}"
            )
        for name, (vectors, present) in exported.items():
            lookup = PretrainedLookup(len(vectors), vectors.shape[1], vectors.dtype)
            lookup.load(vectors, present)
            self.lookups[name] = lookup
            projections[name] = nn.Identity()

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """A copy of the learned state (parameters and batch-norm statistics), without the frozen
        item-vector tables (PretrainedLookup buffers: up to gigabytes, and they never change)."""
        frozen = {id(b) for m in self.modules() if isinstance(m, PretrainedLookup) for b in m.buffers()}
        return {k: v.detach().clone() for k, v in self.state_dict(keep_vars=True).items() if id(v) not in frozen}

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        """Put a `trainable_state` back; only the frozen tables may be missing from it."""
        missing, unexpected = self.load_state_dict(state, strict=False)
        frozen = {k for k, _ in self.named_buffers() if k.startswith("lookups.")}
        if unexpected or set(missing) - frozen:
            raise ValueError(
                f"state does not fit the model: missing {sorted(set(missing) - frozen)}, unexpected {unexpected}"
            )

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def predict_proba(self, batch: Batch) -> torch.Tensor:
        return torch.sigmoid(self.forward(batch))
