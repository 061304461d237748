"""The ranking endpoint under attack: good-traffic latency with and without hostile requests.

    python bench/serve_fuzz.py --run RUNS/umair_fps --lake LAKE [--rate 20] [--seconds 20] [--attackers 16]
        [--rate-limit 40,80 --client-tokens] [--proxy-shedding off] [--attack-rate 200]

Phase 1 sends good POST /v1/rank requests (100 candidates) open-loop at --rate for --seconds.
Phase 2 sends the same good traffic while --attackers connections, from a second process, send the
hostile requests of ray_apps/serve/hostile_requests.py (every kind, stalled bodies included) back to back for
as long as it lasts.
Prints the bad requests' status classes (target: all 4xx with a message, zero 5xx), the good
requests' p50 / p99 in both phases (target: p99 under attack <= 2x without) and whether the
replica process changed (target: no restart). Loopback only; writes JSON.

--rate-limit turns the endpoint's per-client limit on (UMAIR_SERVE_RATE_LIMIT); with --client-tokens
each attacker connection sends its own `Authorization: Bearer attacker-<k>` and the good client its
own, as clients behind a gateway that issues tokens would (on loopback every client has the same
address, so without tokens the limit would count good and bad traffic as one client).
--attack-rate sends the bad requests open loop at a fixed rate (the --attackers clients taking turns)
instead of back to back: back to back, an endpoint that refuses faster is sent more, by a process that
shares this machine's cores with it, so two endpoints are compared at the same attack only at a fixed rate.
--proxy-shedding off starts Serve's proxy without ray_apps.serve.proxy_shedding (every request then
reaches the replica before it is refused), the baseline of the shedding.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
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

from ray_apps.runtime import PROXY_CALLBACK_ENV  # noqa: E402
from ray_apps.serve.hostile_requests import hostile_requests  # noqa: E402
from ray_apps.serve.ratelimit import RATE_ENV  # noqa: E402
from ray_apps.serve.raw_http import Answer, RawRequest, good_rank_requests, has_message, paced, send  # noqa: E402

GOOD_TOKEN = "good-client"


def with_token(request: RawRequest, token: str) -> RawRequest:
    """`request` with an Authorization header added right after its request line."""
    line, _, rest = request.head.partition(b"\r\n")
    head = line + f"\r\nAuthorization: Bearer {token}\r\n".encode() + rest
    return RawRequest(request.kind, head, request.body, request.stall_after)


def latency(answers: list[Answer]) -> dict:
    ms = np.array([a.seconds * 1000 for a in answers])
    return {
        "requests": len(answers),
        "status": dict(Counter(a.status_class for a in answers)),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }


async def attack_for(port: int, attackers: int, seconds: float, tokens: bool, rate: float | None) -> list[Answer]:
    """`attackers` clients (each its own token) sending the hostile pool for `seconds`: back to back on
    `attackers` connections, or open loop at `rate` requests per second in all, whatever the answers."""
    pool = hostile_requests(2000, seed=1, slow=40)

    def request(i: int) -> RawRequest:
        return with_token(pool[i % len(pool)], f"attacker-{i % attackers}") if tokens else pool[i % len(pool)]

    if rate is not None:
        return await paced("127.0.0.1", port, [request(i) for i in range(int(rate * seconds))], rate, 30)
    deadline = time.perf_counter() + seconds
    bad: list[Answer] = []

    async def attacker(k: int) -> None:
        i = k
        while time.perf_counter() < deadline:
            bad.append(await send("127.0.0.1", port, request(i), 30))
            i += attackers

    await asyncio.gather(*(attacker(k) for k in range(attackers)))
    return bad


def attack_process(port: int, attackers: int, seconds: float, tokens: bool, rate: float | None, out) -> None:
    """The attack in its own process, so the good-traffic client's event loop measures the endpoint,
    not its own backlog of bad answers. Sends back (kind, status, has a message) per request and the
    share of a core the attacking process itself used."""
    started, cpu = time.perf_counter(), time.process_time()
    bad = asyncio.run(attack_for(port, attackers, seconds, tokens, rate))
    share = (time.process_time() - cpu) / (time.perf_counter() - started)
    out.send(([(x.kind, x.status, has_message(x)) for x in bad], share))


def main() -> int:
    from ray import serve

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True)
    p.add_argument("--lake", required=True)
    p.add_argument("--rate", type=float, default=20, help="good requests per second")
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--attackers", type=int, default=16, help="connections sending bad requests back to back")
    p.add_argument(
        "--attack-rate",
        type=float,
        default=None,
        help="bad requests per second in all, open loop (default: back to back)",
    )
    p.add_argument("--port", type=int, default=8012)
    p.add_argument(
        "--rate-limit", default=None, help="RATE,BURST[,REFUSAL_COST] per client (UMAIR_SERVE_RATE_LIMIT); default: off"
    )
    p.add_argument("--client-tokens", action="store_true", help="a bearer token per attacker and for the good client")
    p.add_argument("--proxy-shedding", choices=("on", "off"), default="on", help="refusals in Serve's proxy")
    p.add_argument("--out", default="bench/results/serve_fuzz.json")
    a = p.parse_args()
    if a.rate_limit:
        os.environ[RATE_ENV] = a.rate_limit  # read by the proxies and replicas this process's Ray starts
    if a.proxy_shedding == "off":
        os.environ[PROXY_CALLBACK_ENV] = ""  # no callback: Serve's plain proxy
    base, body = start_warm(a.run, a.lake, a.port)
    replica_before = requests.get(f"{base}/v1/model", timeout=30).json()["replica"]
    n = int(a.rate * a.seconds)
    host, port = "127.0.0.1", a.port

    token = GOOD_TOKEN if a.client_tokens else None
    quiet = asyncio.run(paced(host, port, good_rank_requests(n, body, token), a.rate, 30))
    print(f"[fuzz] good traffic alone: {latency(quiet)}", flush=True)
    receive, send_back = mp.get_context("spawn").Pipe(duplex=False)
    attack = mp.get_context("spawn").Process(
        target=attack_process, args=(port, a.attackers, a.seconds + 3, a.client_tokens, a.attack_rate, send_back)
    )
    attack.start()
    time.sleep(2)  # the attack process is up and sending
    attacked = asyncio.run(paced(host, port, good_rank_requests(n, body, token), a.rate, 30))
    answers, attacker_cpu = receive.recv()
    bad = [Answer(kind, status, b"x" if message else b"", 0.0) for kind, status, message in answers]
    attack.join()
    wall = a.seconds + 3
    print(f"[fuzz] good traffic under attack: {latency(attacked)}", flush=True)

    replica_after = requests.get(f"{base}/v1/model", timeout=30).json()["replica"]
    by_kind = {k: dict(Counter(x.status for x in bad if x.kind == k)) for k in sorted({x.kind for x in bad})}
    result = {
        "good_rate": a.rate,
        "seconds": a.seconds,
        "attackers": a.attackers,
        "rate_limit": a.rate_limit,
        "client_tokens": a.client_tokens,
        "proxy_shedding": a.proxy_shedding,
        "attack_rate": a.attack_rate,
        "attacker_cpu_share": round(attacker_cpu, 2),
        "candidates": len(body["illust_ids"]),
        "good_without_attack": latency(quiet),
        "good_under_attack": latency(attacked),
        "p99_ratio": round(latency(attacked)["p99_ms"] / latency(quiet)["p99_ms"], 2),
        "bad_requests": len(bad),
        "bad_per_second": round(len(bad) / wall, 1),
        "bad_status_classes": dict(Counter(x.status_class for x in bad)),
        "bad_without_message": sum(not x.body for x in bad),
        "bad_status_by_kind": by_kind,
        "replica_restarts": int(replica_after != replica_before),
    }
    save_result(result, a.out)
    serve.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
