"""One Ray Serve endpoint on loopback, shared by the serving tests (starting one takes seconds)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PORT = 8765


@pytest.fixture(scope="package")
def url(tiny_runs, tiny_lake):
    """Base URL of the ranker app serving the tiny UMAIR-FPS run (a test that swaps runs swaps back)."""
    from ray import serve

    from ray_apps.serve.deploy import start

    runs, records = tiny_runs
    lake, _ = tiny_lake
    base = start(str(Path(runs, records["umair_fps"]["run"])), str(lake), port=PORT)
    yield base
    serve.shutdown()


@contextmanager
def second_app(name: str, env: dict[str, str], tiny_runs, tiny_lake) -> Iterator[str]:
    """Another app at /NAME serving the tiny UMAIR-FPS run, its replica started with `env` (as a RayService
    sets it from a Secret or a value); -> its route prefix. Deleted afterwards."""
    from ray import serve

    from ray_apps.serve.app import Ranker
    from ray_apps.serve.schemas import ServeTarget

    runs, records = tiny_runs
    lake, _ = tiny_lake
    target = ServeTarget(run=str(Path(runs, records["umair_fps"]["run"]).resolve()), lake=str(lake.resolve()))
    options = {"num_cpus": 0, "runtime_env": {"env_vars": env}}
    serve.run(
        Ranker.options(ray_actor_options=options, user_config=target.model_dump()).bind(),
        name=name,
        route_prefix=f"/{name}",
    )
    try:
        yield f"/{name}"
    finally:
        serve.delete(name)
