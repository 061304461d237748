"""User-aware Multi-modal Contribution Measurement (UMAIR-FPS section 2.4, eq. 6-7).

Shapes: v_user [B, D]; modalities E [B, J, D] (J = 4: TSEM, SEM, STY, metadata); mask [B, J]
True where the modality exists for that item (an item with a broken image has no SEM / STY).
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


class UMCM(nn.Module):
    """One UMCM: weights alpha [B, J] and the re-weighted item vector v_il [B, D].

    kind="att" (paper eq. 7): a_j = q · e_j with q = v_user (or W_q v_user when `query_projection`,
    which the experts of UMCMExperts use so they are not identical); alpha = softmax_j(a_j);
    v_il = sum_j alpha_j e_j (eq. 6).
    kind="sen" (the paper's UMCM_SEN variant): an SENet excitation computes the scores from the
    squeezed modalities mean_D(e_j ⊙ v_user) [B, J]: a = W2 ReLU(W1 z); alpha = masked softmax(a).
    """

    def __init__(
        self,
        embedding_dim: int,
        num_modalities: int,
        kind: str = "att",
        query_projection: bool = False,
        reduction_ratio: float = 1.0,
    ) -> None:
        super().__init__()
        if kind not in ("att", "sen"):
            raise ValueError(f"UMCM kind must be 'att' or 'sen', got {kind!r}")
        self.kind = kind
        self.query = nn.Linear(embedding_dim, embedding_dim, bias=False) if query_projection else None
        if kind == "sen":
            hidden = max(1, int(num_modalities / reduction_ratio))
            self.excitation = nn.Sequential(
                nn.Linear(num_modalities, hidden), nn.ReLU(), nn.Linear(hidden, num_modalities)
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

    beta_k = softmax_k(v_user · o_k); output sum_k beta_k o_k.
    """

    def forward(self, v_user: torch.Tensor, experts: torch.Tensor) -> torch.Tensor:
        beta = torch.softmax(torch.einsum("bd,bkd->bk", v_user, experts), dim=-1)
        return torch.einsum("bk,bkd->bd", beta, experts)


class UMCMExperts(nn.Module):
    """K parallel UMCM experts (MoE-style) merged by ExpertGate: -> v_il [B, D].

    With K = 1 this is a single UMCM with q = v_user exactly as eq. 7. With K > 1 each expert has
    its own query projection W_q^k (otherwise K identical experts would give K identical outputs).
    """

    def __init__(self, embedding_dim: int, num_modalities: int, num_experts: int = 3, kind: str = "att") -> None:
        super().__init__()
        self.experts = nn.ModuleList(
            UMCM(embedding_dim, num_modalities, kind, query_projection=num_experts > 1) for _ in range(num_experts)
        )
        self.gate = ExpertGate()

    def forward(self, v_user: torch.Tensor, modalities: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if len(self.experts) == 1:
            return self.experts[0](v_user, modalities, mask)
        outputs = torch.stack([e(v_user, modalities, mask) for e in self.experts], dim=1)  # [B, K, D]
        return self.gate(v_user, outputs)
