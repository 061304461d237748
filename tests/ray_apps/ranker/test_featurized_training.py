"""The dataset.yaml that `featurize` writes trains models end to end as it is: `compare --dataset`
with a baseline and UMAIR-FPS, first without item vectors (metadata modality only), then after
`embed` encoded the catalogue `featurize` wrote (posters and titles of the user's own item table)."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest

from ray_apps.encoders.embed import EmbedConfig
from ray_apps.encoders.embed import run as embed
from ray_apps.encoders.item_features import from_blobs
from ray_apps.encoders.pretrain_image import PretrainConfig
from ray_apps.encoders.pretrain_image import run as pretrain
from ray_apps.lake import read_table
from ray_apps.ranker.compare import compare
from ray_apps.ranker.config import TrainConfig
from ray_apps.ranker.data import DatasetConfig
from tests.conftest import SMALL_MODEL
from tests.own_tables import GENRES, POSTERS


def test_featurized_lake_trains_a_baseline_and_umair_fps(featurized, ray_local, tmp_path):
    lake, record, _ = featurized
    dataset = DatasetConfig.from_yaml(lake / "dataset.yaml")
    assert dataset.user_column == "user_key" and dataset.item_features is None  # embed has not run
    groups = {f.name: f.group for f in dataset.spec.fields}
    assert groups["user_id"] == "user" and groups["item_id"] == "item" and groups["hour"] == "context"
    base = TrainConfig(overrides=SMALL_MODEL, batch_size=64, epochs=1)
    results = compare(str(lake), str(tmp_path / "runs"), ["dcn_v2", "umair_fps"], [], base, dataset=dataset, parallel=2)
    test_rows = read_table(lake / "interactions_test").num_rows
    assert [r["model"] for r in results] == ["dcn_v2", "umair_fps"]
    for r in results:
        assert r["examples"] == test_rows == record["splits"]["test"]["rows"]
        assert 0.0 < r["auc"] < 1.0 and math.isfinite(r["logloss"]) and math.isfinite(r["gauc"])


def test_embed_encodes_a_featurized_catalogue_and_umair_fps_trains_on_it(featurized, tiny_models, tmp_path):
    """The image encoder is pre-trained on the catalogue's own posters and genres (no sample-site
    encoder), then embed encodes the catalogue with it. (64 px: at 32 px ResNet's last feature map is
    1 x 1, and batch norm refuses the one-image batch a worker's shard of nine posters can end with.)"""
    lake, record, facts = featurized
    models = tmp_path / "models"
    shutil.copytree(tiny_models[0] / "text_encoder", models / "text_encoder")
    n = record["catalogue"]["items"]
    readable = sum(kind.endswith("png") for kind in POSTERS.values())
    image = pretrain(
        PretrainConfig(
            lake=str(lake), out=str(models), depth=18, image_size=64, epochs=1, batch_size=8, pretext_min_items=2
        )
    )
    assert image["pretext"]["source"] == str(lake / "items") and set(image["pretext"]["classes"]) <= set(GENRES)
    assert image["pretext"]["items"] == len(POSTERS)  # every poster path, corrupt and missing too (decoding drops them)
    summary = embed(EmbedConfig(lake=str(lake), models=str(models), batch_size=16))
    assert summary["rows"] == n and summary["ok"] == readable
    assert summary["not_ok"] == {
        "missing_image": n - len(POSTERS),  # rows without a poster field
        "corrupt_image: UnidentifiedImageError": 1,
        "image_not_found": 1,
    }
    features = read_table(lake / "item_features").to_pandas().set_index("illust_id")
    ok = {item for item, kind in POSTERS.items() if kind.endswith("png")}
    assert {i for i in features.index if features.ok[i]} == ok
    assert set(features.image_encoder[features.ok]) == {image["version"]}  # the catalogue's own encoder
    text = from_blobs(features.e_tsem.tolist(), len(features.e_tsem.iloc[0]) // 2).astype(np.float32)
    assert np.allclose(np.linalg.norm(text, axis=1), 1.0, atol=1e-2)  # every item has its text vector

    dataset = DatasetConfig.from_yaml(lake / "dataset.yaml")
    assert dataset.item_features is not None and dataset.item_features.num_items == n
    assert dataset.spec["item_idx"].kind == "index" and dataset.spec["e_sty"].lookup == "item_idx"
    base = TrainConfig(overrides=SMALL_MODEL, batch_size=64, epochs=1)
    (result,) = compare(str(lake), str(tmp_path / "runs"), ["umair_fps"], [], base, dataset=dataset)
    assert result["examples"] == record["splits"]["test"]["rows"] and 0.0 < result["auc"] < 1.0
    assert result["inputs"]["item_features"] == summary["version"]


def test_a_catalogue_without_images_gets_text_vectors_without_an_image_encoder(featurized, tiny_models, tmp_path):
    """MODELS with a text encoder only: refused while the catalogue has images; once no item has one,
    embed writes e_TSEM alone and UMAIR-FPS trains on that single modality."""
    import pyarrow as pa
    from deltalake import write_deltalake

    source, record, _ = featurized
    models, _, _ = tiny_models
    text_models = tmp_path / "models"
    shutil.copytree(models / "text_encoder", text_models / "text_encoder")
    lake = tmp_path / "lake"
    shutil.copytree(source, lake, ignore=shutil.ignore_patterns("item_features"))
    with pytest.raises(FileNotFoundError, match=rf"no image_encoder/ but {len(POSTERS)} items .* have an image"):
        embed(EmbedConfig(lake=str(lake), models=str(text_models)))

    items = read_table(lake / "items")
    no_images = items.set_column(
        items.schema.get_field_index("image_uri"), "image_uri", pa.nulls(items.num_rows, pa.string())
    )
    write_deltalake(str(lake / "items"), no_images, mode="overwrite")
    summary = embed(EmbedConfig(lake=str(lake), models=str(text_models), batch_size=16))
    assert summary["rows"] == items.num_rows and summary["ok"] == 0
    assert summary["not_ok"] == {"missing_image": items.num_rows}
    features = read_table(lake / "item_features")
    assert features["e_sem"].null_count == features["e_sty"].null_count == items.num_rows
    assert features["e_tsem"].null_count == 0 and set(features["image_encoder"].to_pylist()) == {None}

    dataset = DatasetConfig.from_yaml(lake / "dataset.yaml")
    assert dataset.item_features is not None and list(dataset.item_features.vectors) == ["e_tsem"]
    assert [f.name for f in dataset.spec.of_kind("pretrained")] == ["e_tsem"]
    base = TrainConfig(overrides=SMALL_MODEL, batch_size=64, epochs=1)
    (result,) = compare(str(lake), str(tmp_path / "runs"), ["umair_fps"], [], base, dataset=dataset)
    assert result["examples"] == record["splits"]["test"]["rows"] and 0.0 < result["auc"] < 1.0
