"""A small synthetic CTR problem with user, item, context fields and three item modalities."""

from __future__ import annotations

import pytest
import torch

from umair_models.features import FeatureSpec, FieldSpec

N_ITEMS, N_USERS = 50, 40


def make_spec() -> FeatureSpec:
    return FeatureSpec(
        [
            FieldSpec("user_idx", "categorical", vocab_size=N_USERS, group="user"),
            FieldSpec("gender", "categorical", vocab_size=4, group="user"),
            FieldSpec("interest_tags", "multi_categorical", vocab_size=30, max_len=5, group="user"),
            FieldSpec("item_idx", "categorical", vocab_size=N_ITEMS, group="item"),
            FieldSpec("item_type", "categorical", vocab_size=4, group="item"),
            FieldSpec("item_tags", "multi_categorical", vocab_size=30, max_len=6, group="item"),
            FieldSpec("log_pages", "numeric", group="item"),
            FieldSpec("hour", "categorical", vocab_size=25, group="context"),
            FieldSpec("e_tsem", "pretrained", dim=12, group="item", lookup="item_idx"),
            FieldSpec("e_sem", "pretrained", dim=10, group="item", lookup="item_idx"),
            FieldSpec("e_sty", "pretrained", dim=14, group="item", lookup="item_idx"),
        ]
    )


def make_batch(n: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "user_idx": torch.randint(1, N_USERS, (n,), generator=g),
        "gender": torch.randint(0, 4, (n,), generator=g),
        "interest_tags": torch.randint(0, 30, (n, 5), generator=g),
        "item_idx": torch.randint(1, N_ITEMS, (n,), generator=g),
        "item_type": torch.randint(0, 4, (n,), generator=g),
        "item_tags": torch.randint(0, 30, (n, 6), generator=g),
        "log_pages": torch.rand(n, generator=g),
        "hour": torch.randint(0, 25, (n,), generator=g),
    }


def item_tables(seed: int = 0) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Random frozen modality tables; items 1..9 have no image (SEM/STY missing)."""
    g = torch.Generator().manual_seed(seed)
    spec = make_spec()
    out = {}
    for f in spec.of_kind("pretrained"):
        present = torch.ones(N_ITEMS, dtype=torch.bool)
        present[0] = False
        if f.name in ("e_sem", "e_sty"):
            present[1:10] = False
        out[f.name] = (torch.randn(N_ITEMS, f.dim, generator=g), present)
    return out


def learnable_labels(batch: dict[str, torch.Tensor], tables) -> torch.Tensor:
    """A label that depends on a modality vector, a categorical and a user-item interaction."""
    sty = tables["e_sty"][0][batch["item_idx"]][:, 0]
    logit = (
        1.5 * sty
        + (batch["item_type"] == 2).float() * 1.5
        - 1.0
        + ((batch["user_idx"] + batch["item_idx"]) % 3 == 0).float()
    )
    return (torch.sigmoid(logit) > 0.5).float()


@pytest.fixture
def spec() -> FeatureSpec:
    return make_spec()
