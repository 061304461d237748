"""The ranking endpoint under attack: good-traffic latency with and without hostile requests.

    python bench/serve_fuzz.py --run RUNS/umair_fps --lake LAKE [--rate 20] [--seconds 20] [--attackers 16]

Phase 1 sends good POST /v1/rank requests (100 candidates) open-loop at --rate for --seconds.
Phase 2 sends the same good traffic while --attackers connections send the hostile requests of
tests/hostile_http.py (every kind, stalled bodies included) back to back for as long as it lasts.
Prints the bad requests' status classes (target: all 4xx with a message, zero 5xx), the good
requests' p50 / p99 in both phases (target: p99 under attack <= 2x without) and whether the
replica process changed (target: no restart). Loopback only; writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import save_result  # noqa: E402
from _serving import start_warm  # noqa: E402

from tests.hostile_http import Answer, good_rank_requests, has_message, hostile_requests, paced, send  # noqa: E402


def latency(answers: list[Answer]) -> dict:
    ms = np.array([a.seconds * 1000 for a in answers])
    return {
        "requests": len(answers),
        "status": dict(Counter(a.status_class for a in answers)),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }


async def under_attack(host: str, port: int, good, rate: float, attackers: int, pool) -> tuple[list, list]:
    """(good answers, bad answers): the attack runs from the first good request to the last answer."""
    stop = asyncio.Event()
    bad: list[Answer] = []

    async def attacker(k: int) -> None:
        i = k
        while not stop.is_set():
            bad.append(await send(host, port, pool[i % len(pool)], 30))
            i += attackers

    workers = [asyncio.create_task(attacker(k)) for k in range(attackers)]
    answers = await paced(host, port, good, rate, 30)
    stop.set()
    await asyncio.gather(*workers)
    return answers, bad


def main() -> int:
    from ray import serve

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True)
    p.add_argument("--lake", required=True)
    p.add_argument("--rate", type=float, default=20, help="good requests per second")
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--attackers", type=int, default=16, help="connections sending bad requests back to back")
    p.add_argument("--port", type=int, default=8012)
    p.add_argument("--out", default="bench/results/serve_fuzz.json")
    a = p.parse_args()
    base, body = start_warm(a.run, a.lake, a.port)
    replica_before = requests.get(f"{base}/v1/model", timeout=30).json()["replica"]
    n = int(a.rate * a.seconds)
    host, port = "127.0.0.1", a.port

    quiet = asyncio.run(paced(host, port, good_rank_requests(n, body), a.rate, 30))
    print(f"[fuzz] good traffic alone: {latency(quiet)}", flush=True)
    t = time.perf_counter()
    pool = hostile_requests(2000, seed=1, slow=40)
    attacked, bad = asyncio.run(under_attack(host, port, good_rank_requests(n, body), a.rate, a.attackers, pool))
    wall = time.perf_counter() - t
    print(f"[fuzz] good traffic under attack: {latency(attacked)}", flush=True)

    replica_after = requests.get(f"{base}/v1/model", timeout=30).json()["replica"]
    by_kind = {k: dict(Counter(x.status for x in bad if x.kind == k)) for k in sorted({x.kind for x in bad})}
    result = {
        "good_rate": a.rate,
        "seconds": a.seconds,
        "attackers": a.attackers,
        "candidates": len(body["illust_ids"]),
        "good_without_attack": latency(quiet),
        "good_under_attack": latency(attacked),
        "p99_ratio": round(latency(attacked)["p99_ms"] / latency(quiet)["p99_ms"], 2),
        "bad_requests": len(bad),
        "bad_per_second": round(len(bad) / wall, 1),
        "bad_status_classes": dict(Counter(x.status_class for x in bad)),
        "bad_without_message": sum(not has_message(x) for x in bad),
        "bad_status_by_kind": by_kind,
        "replica_restarts": int(replica_after != replica_before),
    }
    save_result(result, a.out)
    serve.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
