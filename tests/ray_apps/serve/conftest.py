"""One Ray Serve endpoint on loopback, shared by the serving tests (starting one takes seconds)."""

from __future__ import annotations

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
