"""Every registered model builds, trains (loss falls) and counts its parameters; every Table 4 switch runs."""

from __future__ import annotations

import pytest
import torch

from tests.umair_models.conftest import item_tables, learnable_labels, make_batch, make_spec
from umair_models.config_files import ConfigError
from umair_models.features import FeatureSpec, FieldSpec
from umair_models.models import MODELS, build_model
from umair_models.models.umair_fps import VARIANTS

SMALL = {"dnn_hidden": (32, 16)}
SMALL_BY_MODEL = {
    "finalmlp": {"mlp1_hidden": (32, 16), "mlp2_hidden": (32,), "fs_hidden": 16},
    "xdeepfm": {"cin_layer_sizes": (8, 8)},
}


def _load_tables(model):
    for name, (vectors, present) in item_tables().items():
        model.load_pretrained(name, vectors, present)


def _train(model, steps=60):
    batch = make_batch(256, seed=1)
    y = learnable_labels(batch, item_tables())
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(batch), y) + model.regularization()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("name", list(MODELS))
def test_model_trains_and_counts_parameters(name):
    torch.manual_seed(0)
    model = build_model(name, make_spec(), {**SMALL, **SMALL_BY_MODEL.get(name, {})})
    _load_tables(model)
    losses = _train(model)
    assert losses[-1] < 0.8 * losses[0], f"{name}: loss {losses[0]:.3f} -> {losses[-1]:.3f}"
    assert model.num_parameters() == sum(p.numel() for p in model.parameters())
    assert model.num_parameters() > 0
    out = model.predict_proba(make_batch(7))
    assert out.shape == (7,) and torch.isfinite(out).all() and ((out >= 0) & (out <= 1)).all()


@pytest.mark.parametrize("name", [n for n in MODELS if n != "umair_fps"])
def test_baselines_optionally_use_modality_vectors(name):
    plain = build_model(name, make_spec(), {**SMALL, **SMALL_BY_MODEL.get(name, {})})
    multimodal = build_model(name, make_spec(), {**SMALL, **SMALL_BY_MODEL.get(name, {}), "use_pretrained": True})
    _load_tables(multimodal)
    assert multimodal.num_parameters() > plain.num_parameters()
    assert multimodal(make_batch(4)).shape == (4,)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_table4_variant_builds_and_runs(variant):
    torch.manual_seed(0)
    model = build_model("umair_fps", make_spec(), SMALL, variant=variant)
    _load_tables(model)
    batch = make_batch(16)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(model(batch), torch.ones(16))
    loss.backward()
    assert torch.isfinite(loss)


def test_the_dot_variant_adds_v_user_dot_v_il_to_the_paper_logit():
    torch.manual_seed(0)
    dot = build_model("umair_fps", make_spec(), SMALL, variant="w/ ATT*3+dot")
    paper = build_model("umair_fps", make_spec(), SMALL)
    paper.load_state_dict(dot.state_dict())  # same parameters: the variant adds none
    _load_tables(dot), _load_tables(paper)
    dot.eval(), paper.eval()
    batch = make_batch(8)
    e = dot.embedding(batch)
    v_user, v_il = dot.user_vector(e), dot.item_vector(batch, e)
    assert torch.allclose(dot(batch), paper(batch) + (v_user * v_il).sum(-1), atol=1e-5)
    with pytest.raises(ValueError, match="user_item_dot"):
        build_model("umair_fps", make_spec(), {**SMALL, "user_item_dot": True}, variant="w/o UMCM")


def test_table4_variants_change_what_they_claim():
    spec = make_spec()
    full = build_model("umair_fps", spec, SMALL)
    assert full.modalities == ["e_tsem", "e_sem", "e_sty", "meta"] and len(full.umcm.experts) == 3
    no_sty = build_model("umair_fps", spec, SMALL, variant="w/o STY")
    assert "e_sty" not in no_sty.modalities and "e_sty" not in no_sty.lookups
    assert build_model("umair_fps", spec, SMALL, variant="w/o UMCM").umcm is None
    assert not hasattr(build_model("umair_fps", spec, SMALL, variant="w/o DCN-V2").body, "cross")
    assert build_model("umair_fps", spec, SMALL, variant="w/ SEN*2").umcm.experts[0].kind == "sen"
    assert build_model("umair_fps", spec, SMALL, variant="w/o ALL").modalities == []
    no_umcm = build_model("umair_fps", spec, SMALL, variant="w/o UMCM")
    assert no_umcm.user_tower is None  # built but unused, it broke DDP (parameters without gradients)
    fields = build_model("umair_fps", spec, SMALL, variant="w/ ATT*3+fields")
    assert fields.modality_fields and not full.modality_fields

    def x0(model) -> int:  # the body's input width: the first cross layer's weight is [x0, x0]
        return next(p for n, p in model.body.named_parameters() if "weight" in n).shape[-1]

    assert x0(fields) - x0(full) == 4 * full.config.modality_dim  # the J = 4 modality vectors beside v_il


def test_umair_masks_missing_images_and_depends_on_style_vectors():
    torch.manual_seed(0)
    model = build_model("umair_fps", make_spec(), SMALL)
    _load_tables(model)
    batch = make_batch(8)
    batch["item_idx"] = torch.tensor([1, 2, 3, 4, 10, 20, 30, 40])  # items 1..9 have no image
    alpha = model.modality_weights(batch)  # [B, K, J]
    assert torch.allclose(alpha.sum(-1), torch.ones(8, 3), atol=1e-6)
    assert (alpha[:4, :, 1:3] == 0).all() and (alpha[4:, :, 1:3] > 0).all()
    before = model(batch)
    model.lookups["e_sty"].vectors[batch["item_idx"][4:]] += 1.0
    after = model(batch)
    assert torch.allclose(before[:4], after[:4]) and not torch.allclose(before[4:], after[4:])


def test_modality_dropout_hides_item_vectors_in_training_only_and_never_the_metadata():
    spec = make_spec()
    torch.manual_seed(0)
    plain = build_model("umair_fps", spec, SMALL)
    torch.manual_seed(0)
    drop = build_model("umair_fps", spec, SMALL, variant="w/ ATT*3+drop")
    assert drop.modality_dropout == 0.5 and plain.modality_dropout == 0.0
    for model in (plain, drop):
        _load_tables(model)
    batch = make_batch(4096)
    e = drop.embedding(batch)
    mods, mask = drop.modality_vectors(batch, e)  # training mode
    _, full = plain.modality_vectors(batch, plain.embedding(batch))
    hidden = full & ~mask  # [B, J]: present, but hidden from this sample
    assert hidden[:, 3].sum() == 0 and (mask[:, 3]).all()  # the metadata modality is never hidden
    rates = hidden[:, :3].float().sum(0) / full[:, :3].float().sum(0)
    assert ((rates > 0.45) & (rates < 0.55)).all(), rates
    assert (mods[hidden] == 0).all()
    drop.eval()
    plain.eval()
    assert torch.equal(drop(batch), plain(batch))  # evaluation and serving see every vector
    with pytest.raises(ValueError, match="modality_dropout must be in"):
        build_model("umair_fps", spec, {**SMALL, "modality_dropout": 1.0})


@pytest.mark.parametrize("name,extra", [("umair_fps", {}), ("dcn_v2", {"use_pretrained": True})])
def test_vector_l2_penalises_exactly_the_item_vectors_projection_weights(name, extra):
    spec = make_spec()
    torch.manual_seed(0)
    plain = build_model(name, spec, {**SMALL, **extra})
    torch.manual_seed(0)
    penalised = build_model(name, spec, {**SMALL, **extra, "vector_l2": 0.5})
    maps = penalised.item_side_projections()
    assert sorted(maps) == ["e_sem", "e_sty", "e_tsem"]
    expected = 0.5 * sum(m.weight.pow(2).sum() for m in maps.values()) / 2
    assert torch.allclose(penalised.regularization() - plain.regularization(), expected)
    penalised.regularization().backward()
    assert all(m.weight.grad is not None and m.weight.grad.abs().sum() > 0 for m in maps.values())


def test_unknown_config_key_and_model_are_clear_errors():
    with pytest.raises(ConfigError, match=r"DCNConfig settings: not a valid DCNConfig:\n  embeding_dim: unknown key"):
        build_model("dcn", make_spec(), {"embeding_dim": 4})
    with pytest.raises(ConfigError, match=r"dnn_hidden.0: Input should be a valid integer"):
        build_model("dcn", make_spec(), {"dnn_hidden": ["wide"]})
    with pytest.raises(KeyError, match="unknown model"):
        build_model("dlrm", make_spec())
    with pytest.raises(KeyError, match="unknown variant"):
        build_model("umair_fps", make_spec(), variant="w/o EVERYTHING")


def test_feature_spec_round_trips_through_yaml(tmp_path):
    spec = make_spec()
    spec.to_yaml(tmp_path / "spec.yaml")
    assert FeatureSpec.from_yaml(tmp_path / "spec.yaml") == spec
    with pytest.raises(ValueError, match="looks up by"):
        FeatureSpec([FieldSpec("v", "pretrained", dim=3, lookup="missing")])
    with pytest.raises(ValueError, match="vocab_size"):
        FieldSpec("c", "categorical", vocab_size=1)


def _paper_width_spec() -> FeatureSpec:
    """Our test spec with the paper's modality widths: e_TSEM 512, e_SEM 768, e_STY 256."""
    widths = {"e_tsem": 512, "e_sem": 768, "e_sty": 256}
    fields = [
        FieldSpec(f.name, f.kind, f.vocab_size, f.max_len, widths.get(f.name, f.dim), f.group, f.lookup)
        for f in make_spec().fields
    ]
    return FeatureSpec(fields)


def test_parameter_deltas_match_the_papers_table4():
    """Table 4's counts: a modality costs exactly its Linear(dim -> 64); ATT experts cost nothing; an SEN expert 580."""
    spec = _paper_width_spec()
    full = build_model("umair_fps", spec).num_parameters()  # default: w/ ATT*3, common width 64
    count = {v: build_model("umair_fps", spec, variant=v).num_parameters() for v in VARIANTS}
    assert full - count["w/o STY"] == 16_448 == 256 * 64 + 64
    assert full - count["w/o SEM"] == 49_216 == 768 * 64 + 64
    assert full - count["w/o TSEM"] == 32_832 == 512 * 64 + 64
    assert count["w/ UMCM_ATT"] == count["w/ ATT*2"] == count["w/ ATT*3"] == count["w/ ATT*4"] == full
    assert count["w/ UMCM_SEN"] - full == 580
    for k in (2, 3, 4):
        assert count[f"w/ SEN*{k}"] - full == 580 * k
    assert count["w/ ATT*3+Wq"] - full == 3 * 64 * 64  # the named alternative: one W_q per expert
    assert count["w/ ATT*3+dot"] == full  # the dot product of v_user and v_il has no parameters
    # 16 whitened principal components in place of each whole vector: Linear(16 -> 64) for Linear(dim -> 64)
    assert full - count["w/ ATT*3+dot+PCA16"] == (256 - 16) * 64 + (768 - 16) * 64 + (512 - 16) * 64


def test_the_xavier_initializer_follows_the_reference_scheme_and_torch_keeps_pytorchs_defaults():
    from torch import nn

    spec = FeatureSpec(
        [FieldSpec("a", "categorical", vocab_size=50), FieldSpec("t", "multi_categorical", vocab_size=40, max_len=3)],
        "label",
    )
    model = build_model("fibinet", spec, {"initializer": "xavier", "embedding_init_std": 1e-3})
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert linears and all(m.bias is None or torch.all(m.bias == 0) for m in linears)
    tables = [m for m in model.modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag))]
    weights = torch.cat([m.weight.detach().flatten() for m in tables])
    assert 0.7e-3 < float(weights.std()) < 1.3e-3
    assert all(torch.all(m.weight[m.padding_idx] == 0) for m in tables if m.padding_idx is not None)
    default = build_model("fibinet", spec)
    assert any(torch.any(m.bias != 0) for m in default.modules() if isinstance(m, nn.Linear) and m.bias is not None)
    with pytest.raises(ValueError, match="initializer"):
        build_model("dcn", spec, {"initializer": "he"})


@pytest.mark.parametrize(
    "name,config",
    [
        ("umair_fps", {}),
        ("umair_fps", {"modalities": ("e_sty", "meta")}),
        ("umair_fps", {"user_item_dot": True}),
        ("umair_fps", {"vector_components": 4}),
        ("dcn", {"use_pretrained": True}),
        ("dcn", {"use_pretrained": True, "vector_components": 4}),
    ],
)
def test_the_serving_export_scores_as_the_model_does(name, config):
    """Each item's vectors, projected once and stored in float16, give the trained model's scores; the
    served model holds only the projected width, and items without an image stay masked."""
    torch.manual_seed(0)
    model = build_model(name, make_spec(), {**SMALL, **config})
    _load_tables(model)
    _train(model, steps=20)
    model.eval()
    batch = make_batch(300, seed=5)
    with torch.no_grad():
        expected = model.predict_proba(batch)
    exported = model.export_item_side(chunk=16)  # several chunks over the 50 items
    width = model.config.modality_dim if name == "umair_fps" else model.config.embedding_dim
    assert {n: (v.dtype, v.shape[1]) for n, (v, _) in exported.items()} == {
        f.name: (torch.float16, width) for f in model.pretrained_fields
    }
    served = build_model(name, make_spec(), {**SMALL, **config})
    served.load_trainable_state(model.trainable_state())
    served.use_item_side(exported)
    served.eval()
    assert all(lookup.vectors.shape[1] == width for lookup in served.lookups.values())
    with torch.no_grad():
        # float16 rows round the score by a few 1e-4 at most (whitened components: every direction at unit scale)
        tolerance = 5e-4 if config.get("vector_components") else 2e-4
        assert served.predict_proba(batch).numpy() == pytest.approx(expected.numpy(), abs=tolerance)
    with pytest.raises(ValueError, match="the export holds"):
        build_model(name, make_spec(), {**SMALL, **config}).use_item_side({})
