"""A local Ray (2 CPUs) shared by the Ray tests, and the tiny site's encoders and item features."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def ray_local():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def tiny_models(ray_local, tiny_lake, tmp_path_factory) -> tuple[Path, dict, dict]:
    """(MODELS folder, image pretext summary, text fine-tune summary) trained on the tiny lake."""
    from ray_apps.encoders.finetune_text import FinetuneConfig
    from ray_apps.encoders.finetune_text import run as finetune
    from ray_apps.encoders.pretrain_image import PretrainConfig
    from ray_apps.encoders.pretrain_image import run as pretrain

    lake, _ = tiny_lake
    models = tmp_path_factory.mktemp("models")
    image = pretrain(PretrainConfig(lake=str(lake), out=str(models), depth=18, image_size=32, epochs=1, batch_size=64))
    text = finetune(FinetuneConfig(lake=str(lake), out=str(models), epochs=2, batch_size=32))
    return models, image, text


@pytest.fixture(scope="session")
def tiny_features(tiny_models, tiny_lake) -> dict:
    """Summary of embed_items on the tiny lake (item_features written into the lake)."""
    from ray_apps.encoders.embed import EmbedConfig, run

    lake, _ = tiny_lake
    models, _, _ = tiny_models
    return run(EmbedConfig(lake=str(lake), models=str(models), batch_size=64))


SMALL_MODEL = {"dnn_hidden": [64, 32]}


@pytest.fixture(scope="session")
def tiny_runs(tiny_features, tiny_lake, tmp_path_factory) -> tuple[Path, dict]:
    """UMAIR-FPS (streamed) and DCN-V2 (shards held in memory) trained on the tiny lake with 2 DDP workers:
    (RUNS, {model: record})."""
    from ray_apps.ranker.config import TrainConfig
    from ray_apps.ranker.job import run

    lake, _ = tiny_lake
    runs = tmp_path_factory.mktemp("runs")
    records = {
        m: run(
            str(lake),
            str(runs),
            TrainConfig(
                model=m, overrides=SMALL_MODEL, batch_size=256, num_workers=2, epochs=2, in_memory=m == "dcn_v2"
            ),
        )
        for m in ("umair_fps", "dcn_v2")
    }
    return runs, records
