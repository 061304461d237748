"""What the endpoint's Prometheus metrics cost on the rank path: POST /v1/rank (100 candidates) at a
fixed rate with the metrics on, then off (UMAIR_SERVE_METRICS=off), alternating for several rounds.

    python bench/serve_metrics_cost.py --run RUNS/umair_fps --lake LAKE [--rate 50] [--seconds 20] [--rounds 2]

Each setting starts its own local Ray (the replicas read the setting from the environment they start
in), warms the endpoint up, then sends open-loop load (bench/serve_load.py's client). Prints p50 /
p99 per round and the median difference of p50, on minus off (target: at most +1 ms at 50 req/s).
Writes JSON.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import save_result  # noqa: E402
from _serving import start_warm  # noqa: E402
from serve_load import load  # noqa: E402

from ray_apps.serve.metrics import METRICS_ENV  # noqa: E402


def measure(run: str, lake: str, setting: str, rate: float, seconds: float, port: int) -> dict:
    import ray
    from ray import serve

    os.environ[METRICS_ENV] = setting
    base, body = start_warm(run, lake, port, warmup=100)
    result = {"metrics": setting, **load(f"{base}/v1/rank", body, rate, seconds)}
    serve.shutdown()
    ray.shutdown()
    print(f"[metrics {setting}] {result}", flush=True)
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True)
    p.add_argument("--lake", required=True)
    p.add_argument("--rate", type=float, default=50)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--port", type=int, default=8014)
    p.add_argument("--out", default="bench/results/serve_metrics_cost.json")
    a = p.parse_args()
    rounds = [{s: measure(a.run, a.lake, s, a.rate, a.seconds, a.port) for s in ("on", "off")} for _ in range(a.rounds)]
    diffs = [r["on"]["p50_ms"] - r["off"]["p50_ms"] for r in rounds]
    result = {
        "rate": a.rate,
        "seconds": a.seconds,
        "rounds": rounds,
        "p50_on_minus_off_ms": diffs,
        "median_p50_cost_ms": round(statistics.median(diffs), 2),
        "p99_on_minus_off_ms": [r["on"]["p99_ms"] - r["off"]["p99_ms"] for r in rounds],
    }
    save_result(result, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
