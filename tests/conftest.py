"""Shared fixtures: one local Spark session, one generated `tiny` site and its lake, one local Ray with the
tiny lake's encoders, item features and two trained runs, per test session. The site, lake, encoders
and item features are built by `umair demo`'s own stages (ray_apps/demo_stages.py).

A test that starts Spark or Ray (through the `spark` or `ray_local` fixture, directly or through
fixtures built on them, or by starting its own cluster) is marked `slow` here, so `make test-fast`
(`pytest -m "not slow"`) runs everything else in a couple of minutes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.prometheus import REPORT_INTERVAL_S

SLOW_FIXTURES = {"spark", "ray_local"}

# Ray Train's controller polls its workers every this many seconds; a run's start and end each wait on
# polls. The suite trains about 45 short runs, in this process and in the jobs it submits to its
# clusters (they inherit this environment): 0.2 s saves about a second a run against our default of 0.5
# (ray_apps/trainer.py, bench/train_poll.py), at the same samples/s. A variable set by the caller wins.
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.2")


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if SLOW_FIXTURES & fixtures:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def spark():
    from spark_jobs.session import get_spark

    # tiny data: 4 shuffle partitions; the jobs' own driver memory (a 2 GB driver ran out of memory for
    # aggregations and broadcasts late in a whole-suite run, 2026-12-05)
    session = get_spark("umair-tests", "local[2]", {"spark.sql.shuffle.partitions": "4"})
    yield session
    session.stop()


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory):
    """`umair demo`'s pipeline on the tiny size, seed 7, in a work folder of the session. The fixtures below
    run its stages one at a time, so the site, lake, encoders and item vectors every test reads are the
    ones the demo builds, and test_demo starts from a copy of them instead of building them again."""
    from ray_apps.demo import PROFILES
    from ray_apps.demo_stages import DemoPipeline

    return DemoPipeline(tmp_path_factory.mktemp("tiny_demo"), "tiny", 7, PROFILES["tiny"])


@pytest.fixture(scope="session")
def tiny_site(spark, tiny_pipeline) -> tuple[Path, dict]:
    """(RAW folder, manifest) of the tiny sample site, seed 7, with images (the demo's generate stage)."""
    tiny_pipeline.run("generate")
    manifest = tiny_pipeline.summaries["generate"]
    assert json.loads((tiny_pipeline.raw / "_manifest.json").read_text()) == manifest
    return tiny_pipeline.raw, manifest


@pytest.fixture(scope="session")
def tiny_lake(spark, tiny_site, tiny_pipeline) -> tuple[Path, dict]:
    """(LAKE folder, run record) of the preprocessing job on the tiny site (the demo's prep stage)."""
    tiny_pipeline.run("prep")
    return tiny_pipeline.lake, tiny_pipeline.summaries["prep"]


@pytest.fixture(scope="session")
def tiny_days(spark, tmp_path_factory) -> tuple[Path, Path, dict]:
    """(RAW, LAKE, manifest): the tiny site, seed 7, no images, its last 3 days arriving as partitions,
    and the lake `prep` built from its history (no day ingested yet: copy it before ingesting)."""
    from spark_jobs.build_datasets import build
    from spark_jobs.generate_site import generate

    raw, lake = tmp_path_factory.mktemp("raw_days"), tmp_path_factory.mktemp("lake_days")
    manifest = generate(spark, "tiny", str(raw), seed=7, images=False, days=3)
    build(spark, str(raw), str(lake))
    return raw, lake, manifest


@pytest.fixture(scope="session")
def tiny_ingested(spark, tiny_days, tmp_path_factory) -> tuple[Path, Path, Path, list[dict]]:
    """(RAW, LAKE before any day, LAKE after `umair ingest` took all 3 days in (a copy), the day records)."""
    import shutil

    from spark_jobs.ingest import ingest

    raw, history_lake, _ = tiny_days
    lake = tmp_path_factory.mktemp("ingested") / "lake"
    shutil.copytree(history_lake, lake)
    return raw, history_lake, lake, ingest(spark, str(raw), str(lake))


@pytest.fixture(scope="session")
def featurized(spark, tmp_path_factory) -> tuple[Path, dict, dict]:
    """(LAKE, run record, facts) of `featurize` on the tables of tests/own_tables.py."""
    from spark_jobs.featurize import featurize
    from spark_jobs.featurize_config import FeaturizeConfig
    from tests.own_tables import write_own_tables

    facts = write_own_tables(tmp_path_factory.mktemp("own_tables"))
    lake = tmp_path_factory.mktemp("own_lake")
    return lake, featurize(spark, FeaturizeConfig.from_yaml(facts["config"]), str(lake)), facts


@pytest.fixture(scope="session")
def ray_local():
    import ray

    from ray_apps.runtime import default_proxy_callback

    default_proxy_callback()  # its Serve proxies shed bad requests, as a Ray our apps start does

    # metrics reach the node's metrics port every 2 s instead of Ray's 10 (the metrics tests poll it)
    # address="local": a Ray of the test session's own, even where another runs on the machine (the
    # cluster tests', a user's)
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _system_config={"metrics_report_interval_ms": int(REPORT_INTERVAL_S * 1000)},
    )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def tiny_models(ray_local, tiny_lake, tiny_pipeline) -> tuple[Path, dict, dict]:
    """(MODELS folder, image pretext summary, text fine-tune summary) trained on the tiny lake (the demo's
    pretrain-image and finetune-text stages: ResNet-18 at 32 px for 1 epoch, 1 epoch of text pairs)."""
    tiny_pipeline.run("pretrain-image")
    tiny_pipeline.run("finetune-text")
    return tiny_pipeline.models, tiny_pipeline.summaries["pretrain-image"], tiny_pipeline.summaries["finetune-text"]


@pytest.fixture(scope="session")
def tiny_features(tiny_models, tiny_lake, tiny_pipeline) -> dict:
    """Summary of embed_items on the tiny lake (item_features written into the lake; the demo's embed stage)."""
    tiny_pipeline.run("embed")
    return tiny_pipeline.summaries["embed"]


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
