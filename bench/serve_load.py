"""Bounded load test of the ranking endpoint on loopback, next to an empty Serve deployment.

    python bench/serve_load.py --run RUNS/umair_fps --lake LAKE [--rates 10,25,50] [--seconds 10]
        [--recommend-rates 20]

Open-loop, from one asyncio client (aiohttp, keep-alive connections): requests leave at a fixed
rate (each POST /v1/rank with 100 candidates) for a fixed number of seconds, so the load is
bounded in count and time. Prints p50 / p99 latency,
throughput and errors per rate for the ranker and for an empty deployment measured in the same
run (target here: p99 <= 25 ms at 50 req/s, zero errors); with `--recommend-rates`, POST
/v1/recommend (k=10, a different user per request) at those rates too (target: p99 <= 50 ms at
20 req/s). Records the resident memory of each Serve replica process. Writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import save_result  # noqa: E402


def load(url: str, body: dict | list[dict], rate: float, seconds: float) -> dict:
    """Open-loop load from one asyncio client (aiohttp, keep-alive): request i leaves at i / rate with
    `body` (or body[i] when a list)."""
    return asyncio.run(_load(url, body, rate, seconds))


async def _load(url: str, body: dict | list[dict], rate: float, seconds: float) -> dict:
    import aiohttp

    n = int(rate * seconds)
    latencies: list[float] = []
    errors = 0

    async def one(session: aiohttp.ClientSession, i: int) -> None:
        nonlocal errors
        t = time.perf_counter()
        try:
            payload = body[i] if isinstance(body, list) else body
            async with session.post(url, json=payload, timeout=aiohttp.ClientTimeout(total=10)) as response:
                await response.read()
                ok = response.status == 200
        except (TimeoutError, aiohttp.ClientError):
            ok = False
        latencies.append((time.perf_counter() - t) * 1000)
        errors += not ok

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        start, tasks = time.perf_counter(), []
        for i in range(n):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(session, i)))
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - start
    lat = np.array(latencies)
    return {
        "rate": rate,
        "requests": n,
        "errors": errors,
        "throughput": round(n / wall, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 2),
        "p99_ms": round(float(np.percentile(lat, 99)), 2),
    }


def replica_memory_gb() -> dict[str, float]:
    """Resident memory of each Serve replica process (title `ray::ServeReplica:<app>:<deployment>`)."""
    import os

    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            if title.startswith("ray::ServeReplica"):
                pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
                out[title] = round(pages * os.sysconf("SC_PAGE_SIZE") / 2**30, 2)
        except OSError:
            continue
    return out


def main() -> int:
    from ray import serve

    from ray_apps.lake import read_table
    from ray_apps.runtime import init_ray
    from ray_apps.serve.deploy import start

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True)
    p.add_argument("--lake", required=True)
    p.add_argument("--rates", default="10,25,50")
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--recommend-rates", default="", help="also load /v1/recommend (k=10) at these rates")
    p.add_argument("--port", type=int, default=8011)
    p.add_argument("--out", default="bench/results/serve_load.json")
    a = p.parse_args()
    init_ray()

    @serve.deployment(max_ongoing_requests=32)
    class Empty:
        async def __call__(self, request) -> dict:
            await request.body()
            return {"ok": True}

    base = start(a.run, a.lake, port=a.port)
    serve.run(
        Empty.bind(), name="empty", route_prefix="/empty", logging_config={"enable_access_log": False}
    )  # as the ranker
    ids = read_table(Path(a.lake, "items"), ["illust_id"])["illust_id"].to_pylist()[:100]
    body = {"user_id": read_table(Path(a.lake, "users"), ["user_id"])["user_id"][0].as_py(), "illust_ids": ids}
    for _ in range(20):  # warm-up
        requests.post(f"{base}/v1/rank", json=body, timeout=30)
        requests.post(f"{base}/empty", json=body, timeout=30)
    result = {"candidates": len(ids), "seconds_per_rate": a.seconds, "ranker": [], "empty": []}
    for rate in [float(r) for r in a.rates.split(",")]:
        result["empty"].append(load(f"{base}/empty", body, rate, a.seconds))
        result["ranker"].append(load(f"{base}/v1/rank", body, rate, a.seconds))
        print(f"rate {rate:>5}: ranker {result['ranker'][-1]}  |  empty {result['empty'][-1]}", flush=True)
    users = read_table(Path(a.lake, "users"), ["user_id"])["user_id"].to_pylist()
    result["recommend"] = []
    for rate in [float(r) for r in a.recommend_rates.split(",") if r]:
        bodies = [{"user_id": users[i % len(users)], "k": 10} for i in range(int(rate * a.seconds))]
        result["recommend"].append(load(f"{base}/v1/recommend", bodies, rate, a.seconds))
        print(f"rate {rate:>5}: recommend {result['recommend'][-1]}", flush=True)
    result["replica_memory_gb"] = replica_memory_gb()
    save_result(result, a.out)
    serve.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
