"""Per-client rate limit: a token bucket per client; 429 with Retry-After past the budget."""

from __future__ import annotations

import pytest
import requests

from ray_apps.serve.ratelimit import RATE_ENV, REFUSAL_COST, RateLimiter, RateLimitError, from_env, retry_after
from tests.ray_apps.serve.conftest import second_app


def test_a_bucket_per_client_refills_at_the_rate(monkeypatch):
    limiter = RateLimiter(rate=2, burst=3)
    assert [limiter.wait_s("a", now=0.0) for _ in range(3)] == [0, 0, 0]
    assert limiter.wait_s("a", now=0.0) == pytest.approx(0.5)  # the 4th waits for the next token
    assert limiter.wait_s("b", now=0.0) == 0  # another client has its own bucket
    assert limiter.wait_s("a", now=0.6) == 0 and limiter.wait_s("a", now=0.6) > 0
    assert retry_after(0.2) == "1" and retry_after(2.1) == "3"
    costly = RateLimiter(rate=2, burst=3, refusal_cost=4)
    assert costly.wait_s("a", now=0.0) == 0
    costly.refused("a", now=0.0)  # 3 tokens more: 2 - 3 = -1 left
    assert costly.wait_s("a", now=0.0) == pytest.approx(1.0) and costly.wait_s("b", now=0.0) == 0
    monkeypatch.setenv(RATE_ENV, "many")
    with pytest.raises(RateLimitError, match="RATE,BURST"):
        from_env()
    monkeypatch.setenv(RATE_ENV, "5,10")
    assert (from_env().rate, from_env().burst, from_env().refusal_cost) == (5, 10, REFUSAL_COST)
    monkeypatch.setenv(RATE_ENV, "5,10,2")
    assert from_env().refusal_cost == 2
    monkeypatch.setenv(RATE_ENV, "5,10,2,1")
    with pytest.raises(RateLimitError, match="REFUSAL_COST"):
        from_env()
    monkeypatch.delenv(RATE_ENV)
    assert from_env() is None


def test_a_flooding_client_gets_429_and_a_good_one_is_unaffected(url, tiny_runs, tiny_lake):
    """A second app whose replica has UMAIR_SERVE_RATE_LIMIT set (as the RayService does)."""
    with second_app("limited", {RATE_ENV: "1,4"}, tiny_runs, tiny_lake) as prefix:
        body = {"user_id": "1000001", "illust_ids": ["80000001"]}
        flood = {"authorization": "Bearer client-a"}
        answers = [requests.post(f"{url}{prefix}/v1/rank", json=body, headers=flood, timeout=30) for _ in range(12)]
        codes = [r.status_code for r in answers]
        assert codes[:4] == [200] * 4 and codes.count(429) >= 6 and set(codes) <= {200, 429}
        refused = next(r for r in answers if r.status_code == 429)
        assert int(refused.headers["retry-after"]) >= 1 and "rate limit" in refused.json()["detail"]
        good = {"authorization": "Bearer client-b"}
        assert requests.post(f"{url}{prefix}/v1/rank", json=body, headers=good, timeout=30).status_code == 200
        assert all(requests.get(f"{url}{prefix}/healthz", timeout=30).status_code == 200 for _ in range(8))
