"""UMAIR-FPS ranker (paper sections 2.4-2.5, Fig. 2).

1. Field embeddings E [B, F, D] for every sparse field (user, item, context).
2. v_user [B, M] = Linear(flatten(user-group embeddings)): user id, profile, pooled interest tags.
3. Modalities e_j [B, J, M]: each pretrained item vector (e_TSEM, e_SEM, e_STY) projected to the
   common width M, plus F_emb(i^O) = Linear(flatten(item metadata embeddings)); mask [B, J].
4. v_il [B, M] = UMCMExperts(v_user, e, mask) (eq. 6-7; K experts, attention gate).
5. x0 = [flatten(E); e_1..e_J (0 where missing); v_il] -> DCN-V2 cross ∥ deep tower -> logit.
Table 4's ablations are config switches (see VARIANTS).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from umair_models.features import FeatureSpec
from umair_models.layers import FeatureEmbedding, UMCMExperts
from umair_models.models.base import Batch, CTRModel
from umair_models.models.dcn import CrossDeep, DCNV2Config

META = "meta"


@dataclass(frozen=True)
class UMAIRConfig(DCNV2Config):
    use_pretrained: bool = True
    modalities: tuple[str, ...] = ("e_tsem", "e_sem", "e_sty", META)
    modality_dim: int = 16  # common width M of v_user and the modality vectors
    umcm: str = "att"  # "att" | "sen" | "none" (w/o UMCM)
    umcm_experts: int = 3  # K parallel UMCMs merged by the attention gate
    cross: bool = True  # False = w/o DCN-V2 (deep tower only)


# The paper's Table 4, as overrides of the default (= "w/ ATT*3", the full model).
VARIANTS: dict[str, dict[str, Any]] = {
    "w/o ALL": {"modalities": (META,)},
    "w/o STY": {"modalities": ("e_tsem", "e_sem", META)},
    "w/o SEM": {"modalities": ("e_tsem", "e_sty", META)},
    "w/o TSEM": {"modalities": ("e_sem", "e_sty", META)},
    "w/o UMCM": {"umcm": "none"},
    "w/ UMCM_ATT": {"umcm": "att", "umcm_experts": 1},
    "w/ UMCM_SEN": {"umcm": "sen", "umcm_experts": 1},
    **{f"w/ ATT*{k}": {"umcm": "att", "umcm_experts": k} for k in (2, 3, 4)},
    **{f"w/ SEN*{k}": {"umcm": "sen", "umcm_experts": k} for k in (2, 3, 4)},
    "w/o DCN-V2": {"cross": False},
}


class UMAIRFPS(CTRModel):
    config_class = UMAIRConfig

    def __init__(self, spec: FeatureSpec, config: UMAIRConfig = UMAIRConfig()) -> None:
        available = {f.name for f in spec.of_kind("pretrained")}
        missing = [m for m in config.modalities if m != META and m not in available]
        if missing:
            warnings.warn(f"UMAIR-FPS: modalities {missing} are not in the feature spec and are left out", stacklevel=2)
        super().__init__(spec, config)
        self.modalities = [m for m in config.modalities if m == META or m in available]
        self.pretrained_fields = [f for f in self.pretrained_fields if f.name in self.modalities]
        self.lookups = nn.ModuleDict({f.name: self.lookups[f.name] for f in self.pretrained_fields})
        d, m = config.embedding_dim, config.modality_dim
        self.embedding = FeatureEmbedding(spec.sparse, d)  # sparse fields; modalities go through UMCM
        names = [f.name for f in spec.sparse]
        self.user_idx = [i for i, f in enumerate(spec.sparse) if f.group == "user"]
        lookup_keys = {f.lookup for f in spec.of_kind("pretrained")}
        self.meta_idx = [i for i, f in enumerate(spec.sparse) if f.group == "item" and f.name not in lookup_keys]
        if not self.user_idx:
            raise ValueError(f"UMAIR-FPS needs user-group fields to build v_user; fields: {names}")
        if META in self.modalities and not self.meta_idx:
            raise ValueError("the 'meta' modality needs item-group metadata fields (group: item)")
        self.user_tower = nn.Linear(len(self.user_idx) * d, m)
        self.meta_tower = nn.Linear(len(self.meta_idx) * d, m) if META in self.modalities else None
        self.projections = nn.ModuleDict({f.name: nn.Linear(f.dim, m) for f in self.pretrained_fields})
        j = len(self.modalities)
        self.umcm = UMCMExperts(m, j, config.umcm_experts, config.umcm) if config.umcm != "none" and j else None
        x0 = len(names) * d + j * m + (m if self.umcm is not None else 0)
        self.body = CrossDeep(x0, config, cross=config.cross)
        self.head = nn.Linear(self.body.out_features, 1)

    def modality_vectors(self, batch: Batch, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> modalities [B, J, M] (zero where missing) and mask [B, J] (True = present)."""
        vectors, present = self.pretrained_inputs(batch)
        out, mask = [], []
        for name in self.modalities:
            if name == META:
                assert self.meta_tower is not None  # built whenever META is a modality
                out.append(self.meta_tower(e[:, self.meta_idx].flatten(1)))
                mask.append(torch.ones(e.shape[0], dtype=torch.bool, device=e.device))
            else:
                out.append(self.projections[name](vectors[name]) * present[name].unsqueeze(-1))
                mask.append(present[name])
        return torch.stack(out, 1), torch.stack(mask, 1)

    def modality_weights(self, batch: Batch) -> torch.Tensor:
        """alpha [B, K, J]: each UMCM expert's weights over the modalities (for inspection)."""
        if self.umcm is None:
            raise ValueError("this variant has no UMCM (w/o UMCM): it has no modality weights")
        e = self.embedding(batch)
        v_user = self.user_tower(e[:, self.user_idx].flatten(1))
        mods, mask = self.modality_vectors(batch, e)
        return torch.stack([x.weights(v_user, mods, mask) for x in self.umcm.experts], 1)  # type: ignore[operator]

    def forward(self, batch: Batch) -> torch.Tensor:
        e = self.embedding(batch)  # [B, F, D]
        parts = [e.flatten(1)]
        if self.modalities:
            mods, mask = self.modality_vectors(batch, e)  # [B, J, M], [B, J]
            parts.append(mods.flatten(1))
            if self.umcm is not None:
                v_user = self.user_tower(e[:, self.user_idx].flatten(1))  # [B, M]
                parts.append(self.umcm(v_user, mods, mask))  # v_il [B, M]
        return self.head(self.body(torch.cat(parts, 1))).squeeze(-1)
