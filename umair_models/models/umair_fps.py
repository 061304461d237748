"""UMAIR-FPS ranker (paper sections 2.4-2.5, Fig. 2), wired as the paper's Table 4 counts say.

1. Field embeddings E [B, F, D] for every sparse field (user, item, context).
2. v_user [B, M] = Linear(flatten(user-group embeddings)): user id, profile, pooled interest tags.
3. Modalities e_j [B, J, M]: each pretrained item vector (e_TSEM, e_SEM, e_STY) projected to the
   common width M by its own Linear(dim -> M) (through its first principal components when
   `vector_components` is set), plus F_emb(i^O) = Linear(flatten(item metadata
   embeddings)); mask [B, J] (an item without an image has no SEM / STY).
4. v_il [B, M] = UMCMExperts(v_user, e, mask) (eq. 6-7; K experts, dot-product gate).
5. x0 = [flatten(E); v_il] -> DCN-V2 cross ∥ deep tower -> logit. The modality vectors reach the
   DCN-V2 body only through v_il, so its input width does not depend on how many modalities
   there are: removing one modality removes exactly its Linear(dim -> M) (Table 4: w/o STY
   -16,448 = 256*64+64 at the paper's widths).

Table 4's ablations are config switches (VARIANTS). `w/o UMCM` weights the present modalities
equally (no v_user, no user tower); `w/o ALL` has no modality at all (DCN-V2 on the same fields);
`w/o DCN-V2` keeps the deep tower only. Where the paper's literal reading is weaker than a sensible
alternative it stays the default and the alternative has a name: `umcm_query_projection` gives
each ATT expert its own W_q (paper: ATT experts have no parameters, so K of them are one function);
`modality_fields` (variant `w/ ATT*3+fields`) puts the J modality vectors into x0 beside v_il;
`modality_dropout` (variant `w/ ATT*3+drop`) hides each item vector from a training sample with that
probability, as if the item had no such vector (UMCM's softmax then spreads over the rest);
`user_item_dot` (variant `w/ ATT*3+dot`) adds v_user · v_il to the logit, an explicit user x item-vector
term beside the DCN-V2 head (no parameters of its own); `w/ ATT*3+dot+PCA16` also passes each item vector
through its first 16 principal components (`vector_components`, layers.principal) before its Linear.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from umair_models.features import FeatureSpec
from umair_models.layers import FeatureEmbedding, UMCMExperts
from umair_models.layers.principal import vector_projection
from umair_models.layers.umcm import masked_mean
from umair_models.models.base import Batch, CTRModel
from umair_models.models.dcn import CrossDeep, DCNV2Config

META = "meta"


@dataclass(frozen=True)
class UMAIRConfig(DCNV2Config):
    use_pretrained: bool = True
    modalities: tuple[str, ...] = ("e_tsem", "e_sem", "e_sty", META)
    modality_dim: int = 64  # common width M of v_user, the modality vectors and v_il (the paper: 64)
    umcm: str = "att"  # "att" | "sen" | "none" (w/o UMCM: equal weights over the present modalities)
    umcm_experts: int = 3  # K parallel UMCMs merged by the attention gate
    umcm_query_projection: bool = False  # alternative to the paper: each ATT expert gets its own W_q
    cross: bool = True  # False = w/o DCN-V2 (deep tower only)
    modality_fields: bool = False  # beyond the paper: each modality vector also enters x0 as its own field
    # beyond the paper: in training, each item vector (not the metadata) is hidden from a sample with this
    # probability, so the model also learns to rank without it and cannot lean on a modality that carries little
    modality_dropout: float = 0.0
    # beyond the paper: logit += <v_user, v_il> beside the DCN-V2 head, an explicit user x item-vector interaction
    # (what FM-style models get from their pairwise terms) that the cross network would have to learn as a bilinear form
    user_item_dot: bool = False


# The paper's Table 4, as overrides of the default (= "w/ ATT*3", the full model).
VARIANTS: dict[str, dict[str, Any]] = {
    "w/o ALL": {"modalities": ()},
    "w/o STY": {"modalities": ("e_tsem", "e_sem", META)},
    "w/o SEM": {"modalities": ("e_tsem", "e_sty", META)},
    "w/o TSEM": {"modalities": ("e_sem", "e_sty", META)},
    "w/o UMCM": {"umcm": "none"},
    "w/ UMCM_ATT": {"umcm": "att", "umcm_experts": 1},
    "w/ UMCM_SEN": {"umcm": "sen", "umcm_experts": 1},
    **{f"w/ ATT*{k}": {"umcm": "att", "umcm_experts": k} for k in (2, 3, 4)},
    **{f"w/ SEN*{k}": {"umcm": "sen", "umcm_experts": k} for k in (2, 3, 4)},
    "w/o DCN-V2": {"cross": False},
    # The named alternative (not in the paper): three ATT experts, each with its own W_q, so they can differ.
    "w/ ATT*3+Wq": {"umcm": "att", "umcm_experts": 3, "umcm_query_projection": True},
    # Beyond the paper: v_il beside the projected modality vectors themselves in x0, so the cross
    # network can cross each modality with the fields (what the +MM controls get) and still use UMCM's fusion.
    "w/ ATT*3+fields": {"modality_fields": True},
    # Beyond the paper: modality dropout, for catalogues whose item vectors carry little (p = 0.5: the better
    # validation AUC of 0.25 and 0.5 on MovieLens 100K with text vectors; bench/README.md). Not the default: on the
    # demo site, where the vectors carry the signal, it stops training early at the ID-only level.
    "w/ ATT*3+drop": {"modality_dropout": 0.5},
    # Beyond the paper: the dot product of v_user and v_il added to the logit (no parameters of its own).
    "w/ ATT*3+dot": {"user_item_dot": True},
    # Beyond the paper: the dot term with each item vector through its first 16 principal components, whitened
    # (k fixed before it was measured). The configuration we recommend where the vectors carry the signal
    # (bench/README.md); the components alone do not help the paper's wiring, which then often stalls early.
    "w/ ATT*3+dot+PCA16": {"user_item_dot": True, "vector_components": 16},
}


class UMAIRFPS(CTRModel):
    config_class = UMAIRConfig

    def __init__(self, spec: FeatureSpec, config: UMAIRConfig = UMAIRConfig()) -> None:
        available = {f.name for f in spec.of_kind("pretrained")}
        missing = [m for m in config.modalities if m != META and m not in available]
        if missing:
            warnings.warn(f"UMAIR-FPS: modalities {missing} are not in the feature spec and are left out", stacklevel=2)
        if not 0.0 <= config.modality_dropout < 1.0:
            raise ValueError(f"modality_dropout must be in [0, 1), got {config.modality_dropout}")
        if config.user_item_dot and (config.umcm == "none" or not config.modalities):
            raise ValueError("user_item_dot needs UMCM and at least one modality (it multiplies v_user and v_il)")
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
        j = len(self.modalities)
        self.umcm = (
            UMCMExperts(m, j, config.umcm_experts, config.umcm, config.umcm_query_projection)
            if config.umcm != "none" and j
            else None
        )
        self.user_tower = (
            nn.Linear(len(self.user_idx) * d, m) if self.umcm is not None else None
        )  # v_user feeds UMCM only
        self.meta_tower = nn.Linear(len(self.meta_idx) * d, m) if META in self.modalities else None
        self.projections = nn.ModuleDict(
            {f.name: vector_projection(f.dim, m, config.vector_components) for f in self.pretrained_fields}
        )
        x0 = len(names) * d + (m if j else 0) + (j * m if config.modality_fields else 0)  # flatten(E), v_il, fields
        self.body = CrossDeep(x0, config, cross=config.cross)
        self.modality_fields = config.modality_fields
        self.modality_dropout = config.modality_dropout
        self.user_item_dot = config.user_item_dot and self.umcm is not None
        self.droppable = torch.tensor(
            [name != META for name in self.modalities], dtype=torch.bool
        )  # [J]: may be hidden
        self.head = nn.Linear(self.body.out_features, 1)

    def item_side_projections(self) -> nn.ModuleDict:
        return self.projections

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
        mods, masks = torch.stack(out, 1), torch.stack(mask, 1)
        if self.training and self.modality_dropout > 0:
            masks = masks & ~self.hidden_in_training(masks)
            mods = mods * masks.unsqueeze(-1).to(mods.dtype)
        return mods, masks

    def hidden_in_training(self, mask: torch.Tensor) -> torch.Tensor:
        """[B, J] True where modality dropout hides an item vector from this sample (never the metadata)."""
        draw = torch.rand(mask.shape, device=mask.device) < self.modality_dropout
        return draw & self.droppable.to(mask.device).unsqueeze(0)

    def user_vector(self, e: torch.Tensor) -> torch.Tensor:
        """v_user [B, M] from the user-group field embeddings of E [B, F, D]."""
        if self.user_tower is None:
            raise ValueError("this variant has no UMCM (w/o UMCM), so no user vector")
        return self.user_tower(e[:, self.user_idx].flatten(1))

    def item_vector(self, batch: Batch, e: torch.Tensor) -> torch.Tensor:
        """v_il [B, M]: the modalities fused by UMCM (eq. 6), or their plain mean without UMCM."""
        return self.fuse(self.query_vector(e), *self.modality_vectors(batch, e))

    def query_vector(self, e: torch.Tensor) -> torch.Tensor | None:
        """v_user [B, M] where UMCM queries with it; None without UMCM (`w/o UMCM` has no user tower)."""
        return self.user_vector(e) if self.umcm is not None else None

    def fuse(self, v_user: torch.Tensor | None, mods: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """v_il [B, M] from v_user [B, M] (None without UMCM), the modalities [B, J, M] and their mask [B, J]."""
        if self.umcm is None:
            return masked_mean(mods, mask)
        return self.umcm(v_user, mods, mask)

    def modality_weights(self, batch: Batch) -> torch.Tensor:
        """alpha [B, K, J]: each UMCM expert's weights over the modalities (for inspection)."""
        if self.umcm is None:
            raise ValueError("this variant has no UMCM (w/o UMCM): it has no modality weights")
        e = self.embedding(batch)
        mods, mask = self.modality_vectors(batch, e)
        v_user = self.user_vector(e)
        return torch.stack([x.weights(v_user, mods, mask) for x in self.umcm.experts], 1)  # type: ignore[operator]

    def forward(self, batch: Batch) -> torch.Tensor:
        e = self.embedding(batch)  # [B, F, D]
        parts, dot = [e.flatten(1)], None
        if self.modalities:
            mods, mask = self.modality_vectors(batch, e)  # [B, J, M], [B, J]
            v_user = self.query_vector(e)  # [B, M] or None
            v_il = self.fuse(v_user, mods, mask)  # [B, M]
            if self.user_item_dot and v_user is not None:
                dot = (v_user * v_il).sum(-1)  # [B]
            parts.append(v_il)
            if self.modality_fields:
                parts.append(mods.flatten(1))  # [B, J*M], zero where a modality is missing
        logit = self.head(self.body(torch.cat(parts, 1))).squeeze(-1)  # [B]
        return logit if dot is None else logit + dot
