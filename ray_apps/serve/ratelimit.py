"""Per-client rate limit of one replica: a token bucket per client, checked before the body is read.

Set UMAIR_SERVE_RATE_LIMIT="RATE,BURST" in the replicas' environment (e.g. "50,100": 50 requests per
second per client with bursts of 100; unset: no limit). A client is its `Authorization` header when it
sends one (a gateway that issues a token per client), else its address. Over the limit: 429 with
Retry-After (whole seconds until a token is back) and a message; never a 5xx. Each replica limits on its
own, so the whole endpoint allows about replicas x RATE per client. /healthz is never limited.
At most MAX_CLIENTS buckets are kept (least recently seen dropped first), so a flood of new addresses
costs bounded memory.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections import OrderedDict

RATE_ENV = "UMAIR_SERVE_RATE_LIMIT"
MAX_CLIENTS = 100_000


class RateLimitError(ValueError):
    """UMAIR_SERVE_RATE_LIMIT is not "RATE,BURST" with positive numbers."""


def from_env(env: str = RATE_ENV) -> RateLimiter | None:
    text = os.environ.get(env, "").strip()
    if not text:
        return None
    try:
        rate, burst = (float(x) for x in text.split(","))
    except ValueError:
        raise RateLimitError(f'{env}={text!r}: expected "RATE,BURST", e.g. "50,100"') from None
    if rate <= 0 or burst < 1:
        raise RateLimitError(f"{env}={text!r}: RATE must be > 0 and BURST >= 1")
    return RateLimiter(rate, burst)


class RateLimiter:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, at)

    def wait_s(self, client: str, now: float | None = None) -> float:
        """0 when `client` may go now (a token is taken), else the seconds until its next token."""
        now = time.monotonic() if now is None else now
        tokens, at = self.buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        allowed = tokens >= 1
        self.buckets[client] = (tokens - 1 if allowed else tokens, now)
        if len(self.buckets) > MAX_CLIENTS:
            self.buckets.popitem(last=False)
        return 0.0 if allowed else (1 - tokens) / self.rate

    @staticmethod
    def client_of(scope, headers: dict[bytes, bytes]) -> str:
        token = headers.get(b"authorization")
        if token:
            return "t:" + hashlib.sha256(token).hexdigest()[:16]  # never the token itself in memory dumps
        client = scope.get("client") or ("?", 0)
        return "a:" + str(client[0])


def retry_after(wait_s: float) -> str:
    return str(max(1, math.ceil(wait_s)))
