"""Shared fixtures: one local Spark session and one generated `tiny` site per test session.

A test that starts Spark or Ray (through the `spark` or `ray_local` fixture, directly or through
fixtures built on them, or by starting its own cluster) is marked `slow` here, so `make test-fast`
(`pytest -m "not slow"`) runs everything else in a couple of minutes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SLOW_FIXTURES = {"spark", "ray_local"}


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def spark():
    from spark_jobs.session import get_spark

    session = get_spark("umair-tests", "local[2]", {"spark.sql.shuffle.partitions": "4"})
    yield session
    session.stop()


@pytest.fixture(scope="session")
def tiny_site(spark, tmp_path_factory) -> tuple[Path, dict]:
    """(RAW folder, manifest) of the tiny sample site, seed 7, with images."""
    from spark_jobs.generate_site import generate

    out = tmp_path_factory.mktemp("raw")
    manifest = generate(spark, "tiny", str(out), seed=7, images=True)
    assert json.loads((out / "_manifest.json").read_text()) == manifest
    return out, manifest


@pytest.fixture(scope="session")
def tiny_lake(spark, tiny_site, tmp_path_factory) -> tuple[Path, dict]:
    """(LAKE folder, run record) of the preprocessing job on the tiny site."""
    from spark_jobs.build_datasets import build

    raw, _ = tiny_site
    lake = tmp_path_factory.mktemp("lake")
    return lake, build(spark, str(raw), str(lake))


@pytest.fixture(scope="session")
def featurized(spark, tmp_path_factory) -> tuple[Path, dict, dict]:
    """(LAKE, run record, facts) of `featurize` on the tables of tests/own_tables.py."""
    from spark_jobs.featurize import featurize
    from spark_jobs.featurize_config import FeaturizeConfig
    from tests.own_tables import write_own_tables

    facts = write_own_tables(tmp_path_factory.mktemp("own_tables"))
    lake = tmp_path_factory.mktemp("own_lake")
    return lake, featurize(spark, FeaturizeConfig.from_yaml(facts["config"]), str(lake)), facts
