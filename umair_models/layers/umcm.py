"""User-aware Multi-modal Contribution Measurement (UMAIR-FPS section 2.4, eq. 6-7).

Shapes: v_user [B, D]; modalities E [B, J, D] (J = 4: TSEM, SEM, STY, metadata); mask [B, J]
True where the modality exists for that item (an item with a broken image has no SEM / STY).

Parameter counts follow the paper's Table 4: an ATT expert and the expert gate are dot products
with no parameters of their own (ATT*1..4 all have the same count); an SEN expert is
Linear(J -> D) + Linear(D -> J) with biases (580 parameters at J = 4, D = 64).
"""

from __future__ import annotations

import torch
from torch import nn


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None, dim: int = -1) -> torch.Tensor:
    """softmax over `dim` that gives masked entries exactly 0; all-masked rows give all zeros."""
    if mask is None:
        return torch.softmax(scores, dim)
    scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim)
    return torch.nan_to_num(weights, nan=0.0)


def masked_mean(modalities: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Equal weights over the present modalities (w/o UMCM): [B, J, D] -> [B, D]."""
    if mask is None:
        return modalities.mean(1)
    weights = mask.to(modalities.dtype)
    return (modalities * weights.unsqueeze(-1)).sum(1) / weights.sum(1, keepdim=True).clamp(min=1.0)


class UMCM(nn.Module):
    """One UMCM: weights alpha [B, J] and the re-weighted item vector v_il [B, D].

    kind="att" (eq. 7): a_j = q · e_j with q = v_user, or q = W_q v_user when `query_projection`
    (a named alternative to the paper: it lets K experts differ); alpha = softmax_j(a_j);
    v_il = sum_j alpha_j e_j (eq. 6).
    kind="sen" (the paper's UMCM_SEN): an SENet excitation turns the squeezed, user-aware
    modalities z_j = mean_D(e_j ⊙ v_user) [B, J] into scores a = W2 ReLU(W1 z) with
    W1: J -> D, W2: D -> J; alpha = masked softmax(a).
    """

    def __init__(
        self, embedding_dim: int, num_modalities: int, kind: str = "att", query_projection: bool = False
    ) -> None:
        super().__init__()
        if kind not in ("att", "sen"):
            raise ValueError(f"UMCM kind must be 'att' or 'sen', got {kind!r}")
        self.kind = kind
        self.query = nn.Linear(embedding_dim, embedding_dim, bias=False) if query_projection else None
        if kind == "sen":
            self.excitation = nn.Sequential(
                nn.Linear(num_modalities, embedding_dim), nn.ReLU(), nn.Linear(embedding_dim, num_modalities)
            )

    def weights(self, v_user: torch.Tensor, modalities: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        q = self.query(v_user) if self.query is not None else v_user
        if mask is not None:  # a missing modality's values must not reach any weight
            modalities = modalities * mask.unsqueeze(-1).to(modalities.dtype)
        if self.kind == "att":
            scores = torch.einsum("bd,bjd->bj", q, modalities)  # a_j = v_user · e_j
        else:
            scores = self.excitation((modalities * q.unsqueeze(1)).mean(-1))  # [B, J]
        return masked_softmax(scores, mask)

    def forward(self, v_user: torch.Tensor, modalities: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        alpha = self.weights(v_user, modalities, mask)  # [B, J]
        if mask is not None:
            modalities = modalities * mask.unsqueeze(-1).to(modalities.dtype)
        return torch.einsum("bj,bjd->bd", alpha, modalities)  # [B, D]


class ExpertGate(nn.Module):
    """Dot-product attention aggregation of expert outputs: O [B, K, D], v_user [B, D] -> [B, D].

    beta_k = softmax_k(v_user · o_k); output sum_k beta_k o_k. No parameters.
    """

    def forward(self, v_user: torch.Tensor, experts: torch.Tensor) -> torch.Tensor:
        beta = torch.softmax(torch.einsum("bd,bkd->bk", v_user, experts), dim=-1)
        return torch.einsum("bk,bkd->bd", beta, experts)


class UMCMExperts(nn.Module):
    """K parallel UMCM experts (MoE-style) merged by ExpertGate: -> v_il [B, D].

    As the paper counts them, ATT experts have no parameters, so K ATT experts compute the same
    function (ATT*K equals ATT*1 up to the gate, which then averages identical vectors); SEN
    experts each have their own excitation. `query_projection=True` gives each expert its own
    W_q (the alternative in which K ATT experts can differ).
    """

    def __init__(
        self,
        embedding_dim: int,
        num_modalities: int,
        num_experts: int = 3,
        kind: str = "att",
        query_projection: bool = False,
    ) -> None:
        super().__init__()
        self.experts = nn.ModuleList(
            UMCM(embedding_dim, num_modalities, kind, query_projection=query_projection) for _ in range(num_experts)
        )
        self.gate = ExpertGate()

    def forward(self, v_user: torch.Tensor, modalities: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if len(self.experts) == 1:
            return self.experts[0](v_user, modalities, mask)
        outputs = torch.stack([e(v_user, modalities, mask) for e in self.experts], dim=1)  # [B, K, D]
        return self.gate(v_user, outputs)
