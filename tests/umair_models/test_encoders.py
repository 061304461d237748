"""The dual-output image encoder against eq. 3-4, and its output sizes per depth."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from umair_models.encoders.image import DualOutputResNet, ImageEncoderConfig, gram_matrix


def test_gram_matrix_equals_eq4_computed_directly():
    f = torch.randn(2, 3, 4, 5)
    g = gram_matrix(f)
    for b in range(2):
        for j in range(3):
            for k in range(3):
                direct = sum(f[b, j, h, w] * f[b, k, h, w] for h in range(4) for w in range(5)) / (4 * 5)
                assert g[b, j, k] == pytest.approx(float(direct), abs=1e-5)
    assert torch.allclose(g, g.transpose(1, 2))


@pytest.mark.parametrize("depth,sem_dim", [(18, 512), (50, 2048), (101, 2048)])
def test_output_sizes_per_depth(depth, sem_dim):
    model = DualOutputResNet(ImageEncoderConfig(depth=depth, num_labels=7, style_pool=4)).eval()
    with torch.no_grad():
        e_sem, e_sty = model(torch.randn(2, 3, 64, 64))
        logits = model(torch.randn(2, 3, 64, 64), head=True)
    assert e_sem.shape == (2, sem_dim) and e_sty.shape == (2, 4 * 4) and logits.shape == (2, 7)
    assert "head.weight" not in model.encoder_state_dict()


def test_style_is_the_elementwise_max_of_the_three_pooled_grams_and_concat_is_a_switch():
    model = DualOutputResNet(ImageEncoderConfig(depth=18, style_pool=16)).eval()
    concat = DualOutputResNet(ImageEncoderConfig(depth=18, style_pool=16, style_merge="concat")).eval()
    concat.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        _, e_sty = model(x)
        _, side_by_side = concat(x)
    assert e_sty.shape == (2, 256) and side_by_side.shape == (2, 768)  # the paper's 256 at S = 16
    assert torch.equal(e_sty, side_by_side.reshape(2, 3, 256).amax(1))
    with pytest.raises(ValueError, match="style_merge"):
        DualOutputResNet(ImageEncoderConfig(depth=18, style_merge="mean"))


def test_semantic_is_mean_pool_of_last_stage_and_style_is_max_pooled_grams():
    model = DualOutputResNet(ImageEncoderConfig(depth=18, style_pool=2, style_merge="concat")).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        s1 = model.layer1(model.stem(x))
        s2 = model.layer2(s1)
        s3 = model.layer3(s2)
        s4 = model.layer4(s3)
        e_sem, e_sty = model(x)
    assert torch.allclose(e_sem, s4.mean((2, 3)), atol=1e-5)
    expected = torch.cat([F.adaptive_max_pool2d(gram_matrix(s).unsqueeze(1), 2).flatten(1) for s in (s1, s2, s3)], 1)
    assert torch.allclose(e_sty, expected, atol=1e-5)
    # block (0, 0) of layer1's pooled Gram is the max over the first half of its channels
    g = gram_matrix(s1)[0]
    assert e_sty[0, 0] == pytest.approx(float(g[:32, :32].max()), rel=1e-5)


def test_extended_vocabulary_reads_cjk_and_voiced_kana_and_survives_a_reload(tmp_path):
    from umair_models.encoders.text import extend_vocabulary, load_text_encoder, unknown_token_share

    texts = ["火影忍者", "うちはサスケ", "漩涡鸣人", "ドラゴン", "naruto, uzumaki"]
    model = load_text_encoder()
    assert unknown_token_share(model.tokenizer, texts) > 0.2  # the English base: most CJK is [UNK]
    assert model.tokenizer.tokenize("ド")[0] == "ト"  # and voiced kana lose their mark
    added = extend_vocabulary(model, texts)
    assert {"影", "忍", "漩", "鸣"} <= set(added) and "n" not in added
    assert unknown_token_share(model.tokenizer, texts) == 0.0
    model.save(str(tmp_path / "extended"))
    again = load_text_encoder(str(tmp_path / "extended"))
    assert unknown_token_share(again.tokenizer, texts) == 0.0 and "ド" in again.tokenizer.tokenize("ドラゴン")
    assert again.encode(["漩涡鸣人"]).shape == (1, 384)
    assert extend_vocabulary(again, texts) == []  # nothing left to add
