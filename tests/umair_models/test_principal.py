"""`vector_components`: a frozen item vector through its leading principal components, whitened; the
basis is fitted once on the table, saved with the model and kept by a resumed or warm-started model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.umair_models.conftest import item_tables, make_batch, make_spec
from umair_models.layers import FeatureEmbedding, PrincipalProjection, vector_projection
from umair_models.models import build_model

SMALL = {"dnn_hidden": (32, 16)}


def _low_rank_table(n: int = 400, dim: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows = offset + 3 strong directions (sd 10, 5, 2) + noise (sd 0.1); rows 0-19 absent and set to
    1e4 (a fit that read them would be ruined). -> (table [n, dim], present [n], directions [3, dim])."""
    g = torch.Generator().manual_seed(seed)
    directions = torch.linalg.qr(torch.randn(dim, 3, generator=g)).Q.T  # [3, dim], orthonormal
    codes = torch.randn(n, 3, generator=g) * torch.tensor([10.0, 5.0, 2.0])
    table = 7.0 + codes @ directions + 0.1 * torch.randn(n, dim, generator=g)
    present = torch.ones(n, dtype=torch.bool)
    present[:20] = False
    table[:20] = 1e4
    return table, present, directions


def test_the_fitted_components_are_the_strong_directions_whitened_over_present_rows_only():
    table, present, directions = _low_rank_table()
    projection = PrincipalProjection(12, 3, width=4)
    assert not bool(projection.fitted)
    projection.fit(table.half(), present)
    assert bool(projection.fitted)
    codes = (table[present] - projection.mean) @ projection.basis  # [380, 3]
    assert codes.mean(0).abs().max() < 0.05  # centred on the present rows (absent rows hold 1e4)
    assert torch.allclose(torch.cov(codes.T, correction=0), torch.eye(3), atol=0.02)  # whitened
    spanned = projection.basis / projection.basis.norm(dim=0)  # [12, 3] unit directions
    # ordered by variance and each equal (up to sign) to the direction it came from
    assert (spanned.T @ directions.T).abs().diagonal().min() > 0.99
    assert projection(table[:5]).shape == (5, 4)


def test_the_same_table_gives_the_same_basis_and_signs_are_fixed():
    table, present, _ = _low_rank_table()
    first, second = PrincipalProjection(12, 3, 4), PrincipalProjection(12, 3, 4)
    first.fit(table, present)
    second.fit(table.clone(), present.clone())
    assert torch.equal(first.basis, second.basis) and torch.equal(first.mean, second.mean)
    largest = first.basis.abs().argmax(0)
    assert (first.basis[largest, torch.arange(3)] > 0).all()


def test_vector_projection_is_a_plain_linear_unless_components_cut_the_vector():
    assert type(vector_projection(12, 4)) is nn.Linear
    assert type(vector_projection(12, 4, components=12)) is nn.Linear
    assert isinstance(vector_projection(12, 4, components=3), PrincipalProjection)
    with pytest.raises(ValueError, match="vector_components must be 0"):
        vector_projection(12, 4, components=-1)
    table, present, _ = _low_rank_table(n=30)
    present[:] = False
    present[:3] = True
    with pytest.raises(ValueError, match="3 items have this vector: too few for 3 principal components"):
        PrincipalProjection(12, 3, 4).fit(table, present)


def test_umair_fps_fits_each_modality_and_counts_the_smaller_maps():
    full = build_model("umair_fps", make_spec(), SMALL)
    cut = build_model("umair_fps", make_spec(), {**SMALL, "vector_components": 4})
    m = cut.config.modality_dim
    # e_tsem 12, e_sem 10, e_sty 14 wide: each Linear(dim -> M) becomes Linear(4 -> M)
    assert full.num_parameters() - cut.num_parameters() == sum((d - 4) * m for d in (12, 10, 14))
    for name, (vectors, present) in item_tables().items():
        cut.load_pretrained(name, vectors, present)
    assert all(bool(p.fitted) for p in cut.projections.values())
    assert cut(make_batch(8)).shape == (8,)


def test_vector_l2_penalises_the_trainable_map_behind_the_components():
    model = build_model("dcn", make_spec(), {**SMALL, "use_pretrained": True, "vector_components": 4, "vector_l2": 1.0})
    maps = [p.linear.weight for p in model.item_side_projections().values()]
    assert len(maps) == 3
    embeddings = sum(m.l2_penalty() for m in model.modules() if isinstance(m, FeatureEmbedding))
    expected = sum(w.pow(2).sum() for w in maps) / 2
    assert torch.allclose(model.regularization() - model.config.embedding_l2 * embeddings, expected)


@pytest.mark.parametrize("name,config", [("umair_fps", {}), ("dcn", {"use_pretrained": True})])
def test_a_restored_model_keeps_its_basis_when_given_a_changed_table(name, config):
    """What a resumed run, a warm start or the serving export does: the state is loaded and the
    lookups get today's table (a new item, rows that moved). The basis the weights were trained
    against is kept, so the restored model scores the original table exactly as the trained one."""
    config = {**SMALL, **config, "vector_components": 4}
    torch.manual_seed(0)
    trained = build_model(name, make_spec(), config)
    tables = item_tables(seed=0)
    for n, (vectors, present) in tables.items():
        trained.load_pretrained(n, vectors, present)
    trained.eval()
    restored = build_model(name, make_spec(), config)
    restored.load_trainable_state(trained.trainable_state())
    for n, (vectors, present) in item_tables(seed=1).items():  # another table
        restored.load_pretrained(n, vectors, present)
    for n in tables:
        kept, original = restored.item_side_projections()[n], trained.item_side_projections()[n]
        assert torch.equal(kept.basis, original.basis) and torch.equal(kept.mean, original.mean)
    for n, (vectors, present) in tables.items():
        restored.load_pretrained(n, vectors, present)
    restored.eval()
    batch = make_batch(64, seed=3)
    with torch.no_grad():
        assert torch.allclose(restored(batch), trained(batch))
