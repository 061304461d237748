"""A model swap under traffic: requests during the swap, failures, time until the new run answers.

    python bench/serve_swap.py --run RUNS/umair_fps --to RUNS/dcn_v2 --lake LAKE [--rate 20] [--seconds 30]

Serves --run, sends POST /v1/rank (100 candidates) open-loop at --rate for --seconds, and a third
of the way in calls `ray_apps.serve.deploy.swap` to --to (what `umair serve --swap` does). Prints
the status of every request (target: zero failures), their p50 / p99 before / during / after the
swap, and the seconds from the swap call until /v1/model names the new run and until the call
returns. Loopback only; writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import save_result  # noqa: E402
from _serving import start_warm  # noqa: E402

from ray_apps.serve.raw_http import good_rank_requests, send  # noqa: E402


def percentiles(ms: list[float]) -> dict:
    if not ms:
        return {"requests": 0}
    return {
        "requests": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }


def timeline(sent: list, t0: float, step: float = 0.5) -> list[str]:
    """Per `step` seconds from the swap call (-2 s to +8 s): requests sent, their statuses, worst latency."""
    rows = []
    for k in range(int(-2 / step), int(8 / step)):
        bucket = [a for t, a in sent if k * step <= t - t0 < (k + 1) * step]
        if bucket:
            worst = max(a.seconds for a in bucket) * 1000
            rows.append(f"{k * step:+.1f}s: {dict(Counter(a.status for a in bucket))} max {worst:.0f} ms")
    return rows


def main() -> int:
    from ray import serve

    from ray_apps.serve.deploy import swap

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="the run served first")
    p.add_argument("--to", required=True, help="the run swapped in")
    p.add_argument("--lake", required=True)
    p.add_argument("--rate", type=float, default=20)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--port", type=int, default=8013)
    p.add_argument("--out", default="bench/results/serve_swap.json")
    a = p.parse_args()
    base, body = start_warm(a.run, a.lake, a.port)
    new_name = Path(a.to).name
    marks: dict[str, float] = {}

    def swapper() -> None:
        time.sleep(a.seconds / 3)
        marks["swap_called"] = time.perf_counter()
        threading.Thread(target=watch, daemon=True).start()
        swap(a.to, a.lake)
        marks["swap_returned"] = time.perf_counter()

    def watch() -> None:
        while requests.get(f"{base}/v1/model", timeout=30).json()["run"] != new_name:
            time.sleep(0.05)
        marks["new_run_answers"] = time.perf_counter()

    async def traffic():
        start_t = time.perf_counter()
        tasks = []
        for i, r in enumerate(good_rank_requests(int(a.rate * a.seconds), body)):
            await asyncio.sleep(max(start_t + i / a.rate - time.perf_counter(), 0))
            tasks.append((time.perf_counter(), asyncio.create_task(send("127.0.0.1", a.port, r, 60))))
        return [(t, await task) for t, task in tasks]

    thread = threading.Thread(target=swapper)
    thread.start()
    sent = asyncio.run(traffic())
    thread.join()

    def phase(t: float) -> str:
        if t < marks["swap_called"]:
            return "before"
        return "during" if t < marks.get("swap_returned", float("inf")) else "after"

    by_phase: dict[str, list[float]] = {"before": [], "during": [], "after": []}
    for t, answer in sent:
        by_phase[phase(t)].append(answer.seconds * 1000)
    statuses = Counter(answer.status for _, answer in sent)
    result = {
        "rate": a.rate,
        "seconds": a.seconds,
        "candidates": len(body["illust_ids"]),
        "requests": len(sent),
        "status": {str(k): v for k, v in statuses.items()},
        "failures": sum(v for k, v in statuses.items() if k != 200),
        "latency": {k: percentiles(v) for k, v in by_phase.items()},
        "seconds_until_new_run_answers": round(marks["new_run_answers"] - marks["swap_called"], 2),
        "seconds_until_swap_returned": round(marks["swap_returned"] - marks["swap_called"], 2),
        "served_after": requests.get(f"{base}/v1/model", timeout=30).json()["run"],
        "timeline": timeline(sent, marks["swap_called"]),
    }
    save_result(result, a.out)
    serve.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
