"""Each layer against its equation on small hand-made tensors."""

from __future__ import annotations

import itertools

import torch

from umair_models.features import FieldSpec
from umair_models.layers import (
    CIN,
    SENET,
    UMCM,
    BilinearInteraction,
    CrossNet,
    CrossNetMix,
    CrossNetV2,
    ExpertGate,
    FeatureEmbedding,
    FMInteraction,
    MultiHeadSelfAttention,
    UMCMExperts,
)
from umair_models.layers.gating import FeatureGating, InteractionAggregation
from umair_models.layers.umcm import masked_mean

torch.manual_seed(0)


def test_crossnet_v2_step_is_x0_times_affine_plus_residual():
    layer = CrossNetV2(4, num_layers=1)
    x0 = torch.randn(3, 4)
    W, b = layer.layers[0].weight, layer.layers[0].bias
    assert torch.allclose(layer(x0), x0 * (x0 @ W.T + b) + x0, atol=1e-6)


def test_crossnet_v2_two_layers_reuse_x0():
    layer = CrossNetV2(3, num_layers=2)
    x0 = torch.randn(5, 3)
    x1 = x0 * layer.layers[0](x0) + x0
    assert torch.allclose(layer(x0), x0 * layer.layers[1](x1) + x1, atol=1e-6)


def test_crossnet_v1_step():
    layer = CrossNet(4, num_layers=1)
    x0 = torch.randn(2, 4)
    expected = x0 * (x0 @ layer.w[0]).unsqueeze(-1) + layer.b[0] + x0
    assert torch.allclose(layer(x0), expected, atol=1e-6)


def test_crossnet_mix_single_expert_matches_low_rank_formula():
    layer = CrossNetMix(4, num_layers=1, low_rank=2, num_experts=1)
    x0 = torch.randn(3, 4)
    U, V, C, b = layer.U[0][0], layer.V[0][0], layer.C[0][0], layer.bias[0].squeeze(-1)
    e = x0 * (torch.tanh(torch.tanh(x0 @ V) @ C.T) @ U.T + b)
    assert torch.allclose(layer(x0), e + x0, atol=1e-5)  # one expert: its gate softmax is 1


def test_cin_step_matches_outer_product_and_filter():
    cin = CIN(num_fields=3, layer_sizes=[2], split_half=False)
    x0 = torch.randn(2, 3, 4)
    w, b = cin.convs[0].weight.squeeze(-1), cin.convs[0].bias  # [2, 9]
    z = torch.stack([x0[:, h] * x0[:, m] for h in range(3) for m in range(3)], 1)  # [B, 9, D]
    expected = torch.relu(torch.einsum("kz,bzd->bkd", w, z) + b[None, :, None]).sum(-1)
    assert torch.allclose(cin(x0), expected, atol=1e-5)
    assert CIN(5, [4, 4, 4]).out_features == 2 + 2 + 4


def test_senet_reweights_fields_by_excitation_of_mean():
    se = SENET(num_fields=4, reduction_ratio=2)
    x = torch.randn(3, 4, 5)
    w1, w2 = se.excitation[0].weight, se.excitation[2].weight
    a = torch.relu(torch.relu(x.mean(-1) @ w1.T) @ w2.T)
    assert torch.allclose(se(x), x * a.unsqueeze(-1), atol=1e-6)


def test_bilinear_interaction_all_types():
    x = torch.randn(2, 3, 4)
    pairs = list(itertools.combinations(range(3), 2))
    for kind in ("field_all", "field_each", "field_interaction"):
        layer = BilinearInteraction(3, 4, kind)
        out = layer(x)
        assert out.shape == (2, 3, 4)
        for p, (i, j) in enumerate(pairs):
            W = layer.W[0] if kind == "field_all" else layer.W[i] if kind == "field_each" else layer.W[p]
            assert torch.allclose(out[:, p], (x[:, i] @ W) * x[:, j], atol=1e-5)


def test_fm_equals_sum_of_pairwise_dot_products():
    x = torch.randn(2, 4, 3)
    pairwise = sum((x[:, i] * x[:, j]).sum(-1) for i, j in itertools.combinations(range(4), 2))
    assert torch.allclose(FMInteraction()(x), pairwise, atol=1e-5)


def test_self_attention_single_head_matches_softmax_formula():
    att = MultiHeadSelfAttention(4, 4, num_heads=1, use_residual=False)
    x = torch.randn(2, 3, 4)
    q, k, v = (x @ w.T for w in att.qkv.weight.chunk(3, 0))
    expected = torch.relu(torch.softmax(q @ k.transpose(1, 2) / 2.0, -1) @ v)
    assert torch.allclose(att(x), expected, atol=1e-5)


def test_feature_gating_scales_by_twice_sigmoid():
    gate = FeatureGating(6, 4, hidden=5)
    x, ctx = torch.randn(2, 6), torch.randn(2, 4)
    assert torch.allclose(gate(x, ctx), 2 * torch.sigmoid(gate.gate(ctx)) * x)
    assert FeatureGating(6, 0, hidden=5)(x).shape == (2, 6)


def test_interaction_aggregation_formula():
    agg = InteractionAggregation(4, 6, num_heads=2)
    x, y = torch.randn(3, 4), torch.randn(3, 6)
    bil = sum((x[:, 2 * h : 2 * h + 2] @ agg.w_xy[h] * y[:, 3 * h : 3 * h + 3]).sum(-1) for h in range(2))
    assert torch.allclose(agg(x, y), agg.w_x(x).squeeze(-1) + agg.w_y(y).squeeze(-1) + bil, atol=1e-5)


def test_umcm_weights_follow_eq7_and_sum_to_one():
    umcm = UMCM(4, 3, "att")
    v_user, e = torch.randn(5, 4), torch.randn(5, 3, 4)
    alpha = umcm.weights(v_user, e)
    assert torch.allclose(alpha, torch.softmax((e * v_user[:, None]).sum(-1), -1), atol=1e-6)
    assert torch.allclose(alpha.sum(-1), torch.ones(5))
    assert torch.allclose(umcm(v_user, e), (alpha.unsqueeze(-1) * e).sum(1), atol=1e-6)


def test_umcm_ignores_masked_modalities():
    for kind in ("att", "sen"):
        umcm = UMCM(4, 3, kind)
        v_user, e = torch.randn(2, 4), torch.randn(2, 3, 4)
        mask = torch.tensor([[True, False, True], [True, True, True]])
        alpha = umcm.weights(v_user, e, mask)
        assert alpha[0, 1] == 0 and torch.allclose(alpha.sum(-1), torch.ones(2))
        changed = e.clone()
        changed[0, 1] = 100.0  # a masked modality's value cannot change the output
        assert torch.allclose(umcm(v_user, e, mask)[0], umcm(v_user, changed, mask)[0], atol=1e-6)
    assert torch.equal(
        UMCM(4, 2).weights(torch.randn(1, 4), torch.randn(1, 2, 4), torch.zeros(1, 2, dtype=torch.bool)),
        torch.zeros(1, 2),
    )


def test_expert_gate_is_dot_product_attention_over_experts():
    v_user, o = torch.randn(3, 4), torch.randn(3, 2, 4)
    beta = torch.softmax((o * v_user[:, None]).sum(-1), -1)
    assert torch.allclose(ExpertGate()(v_user, o), (beta.unsqueeze(-1) * o).sum(1), atol=1e-6)


def test_umcm_experts_single_equals_plain_umcm_and_only_the_named_alternative_makes_att_experts_differ():
    one = UMCMExperts(4, 3, num_experts=1)
    v_user, e = torch.randn(2, 4), torch.randn(2, 3, 4)
    assert torch.allclose(one(v_user, e), UMCM(4, 3)(v_user, e), atol=1e-6)
    paper = UMCMExperts(4, 3, num_experts=3)  # ATT experts without parameters: one function three times
    assert sum(p.numel() for p in paper.parameters()) == 0
    assert torch.allclose(paper(v_user, e), one(v_user, e), atol=1e-6)
    projected = UMCMExperts(4, 3, num_experts=3, query_projection=True)
    outs = [x(v_user, e) for x in projected.experts]
    assert not torch.allclose(outs[0], outs[1])
    sen = UMCMExperts(64, 4, num_experts=2, kind="sen")  # each SEN expert: Linear(4 -> 64) + Linear(64 -> 4)
    assert sum(p.numel() for p in sen.parameters()) == 2 * 580


def test_masked_mean_weights_present_modalities_equally():
    e = torch.tensor([[[1.0, 1.0], [3.0, 5.0], [100.0, 100.0]]])
    mask = torch.tensor([[True, True, False]])
    assert torch.allclose(masked_mean(e, mask), torch.tensor([[2.0, 3.0]]))
    assert torch.equal(masked_mean(e, torch.zeros(1, 3, dtype=torch.bool)), torch.zeros(1, 2))


def test_feature_embedding_pools_multi_valued_fields_ignoring_padding():
    fields = [FieldSpec("tags", "multi_categorical", vocab_size=5, max_len=3), FieldSpec("n", "numeric")]
    emb = FeatureEmbedding(fields, 2)
    out = emb({"tags": torch.tensor([[1, 2, 0], [0, 0, 0]]), "n": torch.tensor([1.0, 2.0])})
    table = emb.field_table("tags")
    assert out.shape == (2, 2, 2)
    assert torch.allclose(out[0, 0], (table[1] + table[2]) / 2)
    assert torch.equal(out[1, 0], torch.zeros(2))
    assert torch.allclose(out[1, 1], 2 * emb.numeric["n"].weight[:, 0])


def test_fused_categorical_table_keeps_fields_apart_and_in_spec_order():
    fields = [
        FieldSpec("a", "categorical", vocab_size=3),
        FieldSpec("t", "multi_categorical", vocab_size=4, max_len=2),
        FieldSpec("b", "categorical", vocab_size=5),
    ]
    emb = FeatureEmbedding(fields, 4)
    out = emb({"a": torch.tensor([2]), "t": torch.tensor([[3, 0]]), "b": torch.tensor([2])})
    assert emb.field_names == ["a", "t", "b"]
    assert torch.equal(out[0, 0], emb.field_table("a")[2]) and torch.equal(out[0, 2], emb.field_table("b")[2])
    assert torch.equal(out[0, 1], emb.field_table("t")[3])
    assert not torch.equal(
        emb.field_table("a")[2], emb.field_table("b")[2]
    )  # same index, different field: different row
    assert emb.field_table("a").shape == (3, 4) and emb.field_table("b").shape == (5, 4)
