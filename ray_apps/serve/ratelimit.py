"""Per-client rate limit of one replica: a token bucket per client, checked before the body is read.

Set UMAIR_SERVE_RATE_LIMIT="RATE,BURST[,REFUSAL_COST]" in the replicas' environment (e.g. "50,100": 50
requests per second per client with bursts of 100; unset: no limit). A client is its `Authorization`
header when it sends one (a gateway that issues a token per client), else its address. Over the limit:
429 with Retry-After (whole seconds until a token is back) and a message; never a 5xx. Each replica
limits on its own, so the whole endpoint allows about replicas x RATE per client. /healthz is never limited.
A request refused as bad (any 4xx but 429: malformed, unauthorised, too big, too slow) costs its client
REFUSAL_COST tokens in all (default 10), so a client that sends garbage is held to RATE / REFUSAL_COST of
it per second while a client that sends good requests keeps its whole RATE.
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
REFUSAL_COST = 10.0  # tokens a request refused as bad costs in all (the default of the env's third field)


class RateLimitError(ValueError):
    """UMAIR_SERVE_RATE_LIMIT is not "RATE,BURST[,REFUSAL_COST]" with positive numbers."""


def from_env(env: str = RATE_ENV) -> RateLimiter | None:
    text = os.environ.get(env, "").strip()
    if not text:
        return None
    try:
        numbers = [float(x) for x in text.split(",")]
        if len(numbers) not in (2, 3):
            raise ValueError
    except ValueError:
        raise RateLimitError(f'{env}={text!r}: expected "RATE,BURST[,REFUSAL_COST]", e.g. "50,100"') from None
    rate, burst, refusal_cost = (*numbers, REFUSAL_COST) if len(numbers) == 2 else numbers
    if rate <= 0 or burst < 1 or refusal_cost < 1:
        raise RateLimitError(f"{env}={text!r}: RATE must be > 0, BURST >= 1 and REFUSAL_COST >= 1")
    return RateLimiter(rate, burst, refusal_cost)


class RateLimiter:
    def __init__(self, rate: float, burst: float, refusal_cost: float = REFUSAL_COST) -> None:
        self.rate, self.burst, self.refusal_cost = rate, burst, refusal_cost
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, at)

    def wait_s(self, client: str, now: float | None = None) -> float:
        """0 when `client` may go now (a token is taken), else the seconds until its next token."""
        now = time.monotonic() if now is None else now
        tokens = self._refilled(client, now)
        allowed = tokens >= 1
        self._keep(client, tokens - 1 if allowed else tokens, now)
        return 0.0 if allowed else (1 - tokens) / self.rate

    def refused(self, client: str, now: float | None = None) -> None:
        """`client`'s request (its token already taken) was refused as bad: it costs REFUSAL_COST in all,
        so the bucket may go below zero and the client then waits longer for its next request."""
        now = time.monotonic() if now is None else now
        self._keep(client, self._refilled(client, now) - (self.refusal_cost - 1), now)

    def _refilled(self, client: str, now: float) -> float:
        """The client's tokens at `now` (a new client starts with a full bucket); its entry is taken out."""
        tokens, at = self.buckets.pop(client, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def _keep(self, client: str, tokens: float, now: float) -> None:
        self.buckets[client] = (tokens, now)  # most recently seen last
        if len(self.buckets) > MAX_CLIENTS:
            self.buckets.popitem(last=False)

    @staticmethod
    def client_of(scope, headers: dict[bytes, bytes]) -> str:
        token = headers.get(b"authorization")
        if token:
            return "t:" + hashlib.sha256(token).hexdigest()[:16]  # never the token itself in memory dumps
        client = scope.get("client") or ("?", 0)
        return "a:" + str(client[0])


def retry_after(wait_s: float) -> str:
    return str(max(1, math.ceil(wait_s)))
