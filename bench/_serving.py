"""Shared by the serving benchmarks: an endpoint started on a run, warmed up, and a request body."""

from __future__ import annotations

from pathlib import Path

import requests


def start_warm(run: str, lake: str, port: int, warmup: int = 20) -> tuple[str, dict]:
    """Start Ray and the ranker on `run`; -> (base URL, a POST /v1/rank body: the lake's first user
    and 100 of its items), after `warmup` requests."""
    from ray_apps.lake import read_table
    from ray_apps.runtime import init_ray
    from ray_apps.serve.deploy import start

    init_ray()
    base = start(run, lake, port=port)
    ids = read_table(Path(lake, "items"), ["illust_id"])["illust_id"].to_pylist()[:100]
    body = {"user_id": read_table(Path(lake, "users"), ["user_id"])["user_id"][0].as_py(), "illust_ids": ids}
    for _ in range(warmup):
        requests.post(f"{base}/v1/rank", json=body, timeout=30)
    return base, body
