"""Encoders on the tiny site: pretext training, the style claim (paper Fig. 5), text fine-tuning, embedding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.dataset as ds

from ray_apps.encoders.item_features import from_blobs
from ray_apps.lake import read_table


def test_pretext_training_writes_an_encoder_with_metrics(tiny_models):
    models, image, _ = tiny_models
    assert (Path(models, "image_encoder", "encoder.safetensors")).exists()
    assert 0.0 < image["final"]["valid_map"] <= 1.0 and image["final"]["valid_images"] > 0


def test_text_fine_tuning_raises_multilingual_recall(tiny_models):
    _, _, text = tiny_models
    before, after = text["before"]["multilingual"], text["after"]["multilingual"]
    assert after["pairs"] > 20
    assert after["recall_at_1"] > before["recall_at_1"], (before, after)
    assert Path(tiny_models[0], "text_encoder", "metrics.json").exists()


def test_text_encoder_reads_the_catalogues_tags(tiny_models):
    """The English base reads many of the tiny site's CJK / kana tags as [UNK]; the extended one under 1%."""
    _, _, text = tiny_models
    vocabulary = text["vocabulary"]
    assert vocabulary["added_tokens"] > 0 and vocabulary["unk_share_before"] > 0.02
    assert vocabulary["unk_share_after"] < 0.01


def test_item_features_one_row_per_item_including_the_corrupt_one(tiny_features, tiny_lake, tiny_site):
    lake, _ = tiny_lake
    _, manifest = tiny_site
    features = read_table(lake / "item_features").to_pandas()
    items = read_table(lake / "items", columns=["item_idx", "illust_id", "image_uri"]).to_pandas()
    assert sorted(features.item_idx) == sorted(items.item_idx)
    corrupt = features[features.illust_id.isin(manifest["counts"]["corrupt_images"])]
    assert len(corrupt) == 1 and not corrupt.ok.iloc[0] and corrupt.error.iloc[0].startswith("corrupt_image")
    missing = features[features.illust_id.isin(items[items.image_uri.isna()].illust_id)]
    assert len(missing) > 0 and (~missing.ok).all() and (missing.error == "missing_image").all()
    tsem = from_blobs(list(features.e_tsem), len(features.e_tsem.iloc[0]) // 2)
    assert (np.abs(tsem).sum(1) > 0).all()  # every item keeps its text vector
    sem = from_blobs(list(features.e_sem), len(features.e_sem.iloc[0]) // 2)
    assert (np.abs(sem[~features.ok.to_numpy()]).sum(1) == 0).all()
    assert tiny_features["rows"] == len(items)


def test_style_vectors_of_one_painting_style_are_nearer(tiny_features, tiny_lake, tiny_site):
    lake, _ = tiny_lake
    raw, _ = tiny_site
    features = read_table(lake / "item_features").to_pandas()
    truth = ds.dataset(raw / "oracle_items").to_table().to_pandas()
    m = features.merge(truth, on="illust_id")
    m = m[m.ok]
    x = from_blobs(list(m.e_sty), len(m.e_sty.iloc[0]) // 2).astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    cos = x @ x.T
    y = m["style"].to_numpy()
    same = y[:, None] == y[None, :]
    off = ~np.eye(len(y), dtype=bool)
    np.fill_diagonal(cos, -np.inf)
    nearest_same_style = (y[cos.argmax(1)] == y).mean()
    np.fill_diagonal(cos, np.nan)
    assert np.nanmean(cos[same & off]) > np.nanmean(cos[~same])
    assert nearest_same_style > 0.6, f"1-NN style accuracy {nearest_same_style:.2f}, chance {1 / len(set(y)):.2f}"


def test_a_lake_without_text_pairs_still_gets_item_vectors(tiny_models, tiny_lake, tmp_path):
    """text_pairs is optional in the raw contract: finetune-text hands the base encoder on (and says so),
    and embed then writes item_features as usual."""
    import shutil

    from ray_apps.artifacts import IMAGE_ENCODER_DIR, load_text_encoder
    from ray_apps.encoders.embed import EmbedConfig
    from ray_apps.encoders.embed import run as embed
    from ray_apps.encoders.finetune_text import FinetuneConfig
    from ray_apps.encoders.finetune_text import run as finetune

    lake, _ = tiny_lake
    own_lake, models = tmp_path / "lake", tmp_path / "models"
    shutil.copytree(lake, own_lake, ignore=lambda d, names: [n for n in names if n in ("text_pairs", "item_features")])
    summary = finetune(FinetuneConfig(lake=str(own_lake), out=str(models)))
    assert summary["train_pairs"] == 0 and "handed on unchanged" in summary["note"]
    assert summary["version"].endswith("-no-pairs")
    _, version = load_text_encoder(models)
    assert version == summary["version"]
    shutil.copytree(Path(tiny_models[0], IMAGE_ENCODER_DIR), models / IMAGE_ENCODER_DIR)
    embed(EmbedConfig(lake=str(own_lake), models=str(models), batch_size=64))
    features = read_table(own_lake / "item_features", columns=["item_idx", "text_encoder"])
    items = read_table(own_lake / "items", columns=["item_idx"])
    assert features.num_rows == items.num_rows
    assert set(features["text_encoder"].to_pylist()) == {summary["version"]}
