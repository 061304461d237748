"""Bounded load test of the ranking endpoint on loopback, next to an empty Serve deployment.

    python bench/serve_load.py --run RUNS/umair_fps --lake LAKE [--rates 10,25,50] [--seconds 10]

Open-loop: requests leave at a fixed rate (each POST /v1/rank with 100 candidates) for a fixed
number of seconds, so the load is bounded in count and time. Prints p50 / p99 latency,
throughput and errors per rate for the ranker and for an empty deployment measured in the same
run (target here: p99 <= 25 ms at 50 req/s, zero errors). Writes JSON.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import save_result  # noqa: E402


def load(url: str, body: dict, rate: float, seconds: float) -> dict:
    n = int(rate * seconds)
    latencies, errors, lock = [], 0, threading.Lock()
    session = requests.Session()

    def one(_: int) -> None:
        nonlocal errors
        t = time.perf_counter()
        try:
            ok = session.post(url, json=body, timeout=10).status_code == 200
        except requests.RequestException:
            ok = False
        with lock:
            latencies.append((time.perf_counter() - t) * 1000)
            errors += not ok

    start = time.perf_counter()
    with ThreadPoolExecutor(32) as pool:
        for i in range(n):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, i)
    wall = time.perf_counter() - start
    lat = np.array(latencies)
    return {"rate": rate, "requests": n, "errors": errors, "throughput": round(n / wall, 1),
            "p50_ms": round(float(np.percentile(lat, 50)), 2), "p99_ms": round(float(np.percentile(lat, 99)), 2)}


def main() -> int:
    from ray import serve

    from ray_apps.common import init_ray, read_table
    from ray_apps.serve_app import start

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True)
    p.add_argument("--lake", required=True)
    p.add_argument("--rates", default="10,25,50")
    p.add_argument("--seconds", type=float, default=10)
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
    serve.run(Empty.bind(), name="empty", route_prefix="/empty")
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
    save_result(result, a.out)
    serve.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
