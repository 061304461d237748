"""Shedding in Serve's proxy: bad and over-limit requests for the ranker's routes are answered there and
never reach what is behind the proxy; good ones pass with their body unchanged; refusals are counted.

The first tests drive the middleware as ASGI around a stand-in for Serve's proxy app (it records what
reaches it); the last sends real HTTP to the session's endpoint, whose Ray starts its proxies with the
shedding (tests/conftest.py), and reads where Ray's metrics counted the refusals."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import requests

from ray_apps.serve import proxy_shedding
from ray_apps.serve.ratelimit import RATE_ENV
from tests.prometheus import settled, wait_for

GOOD = json.dumps({"user_id": "1000001", "illust_ids": ["80000001", "80000002"]}).encode()


class BehindTheProxy:
    """What the shedding forwards to: answers 200 and keeps (path, body) of every request it got."""

    def __init__(self) -> None:
        self.got: list[tuple[str, bytes]] = []

    async def __call__(self, scope, receive, send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        self.got.append((scope["path"], body))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


class Counted:
    """Stands in for the process's metrics: the answers the shedding counted."""

    def __init__(self) -> None:
        self.answers: list[tuple[str, int]] = []

    def answered(self, path: str, status: int, seconds: float) -> None:
        self.answers.append((path, status))


def call(app, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None):
    """One request through the ASGI app -> (status, headers, parsed body or None)."""
    given = {"content-type": "application/json", "content-length": str(len(body)), **(headers or {})}
    scope = {
        "type": "http", "method": method, "path": path, "root_path": "", "client": ("10.0.0.1", 5000),
        "headers": [(k.encode(), v.encode()) for k, v in given.items()],
    }  # fmt: skip
    sent: list[dict] = []
    incoming = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), json.loads(content) if content else None


@pytest.fixture
def shed(monkeypatch):
    counted = Counted()
    monkeypatch.setattr(proxy_shedding, "replica_metrics", lambda: counted)
    monkeypatch.setenv(RATE_ENV, "0.2,3")  # a token back every 5 s: no test's outcome depends on its own speed
    behind = BehindTheProxy()
    return proxy_shedding.middlewares()[0].cls(behind), behind, counted


def test_bad_requests_for_ranker_routes_are_answered_in_the_proxy_and_counted(shed):
    app, behind, counted = shed
    token = {"authorization": "Bearer a"}
    cases = [
        ("POST", "/v1/rank", b'{"user_id": "1", "illust_ids": [', 422),  # truncated JSON
        ("POST", "/v1/rank", b'{"user_id": 5, "illust_ids": "x"}', 422),  # wrong types
        ("POST", "/shop/v1/recommend", b'{"user_id": "1", "k": 1000, "more": 1}', 422),  # any route prefix
        ("GET", "/v1/rank", b"", 405),
        ("POST", "/v1/rank", b"x" * 70_000, 413),
    ]
    for k, (method, path, body, status) in enumerate(cases):
        got, headers, answer = call(app, method, path, body, {"authorization": f"Bearer client-{k}"})
        assert got == status, (path, body[:40], answer)
        assert answer["detail"]
    status, headers, answer = call(app, "POST", "/v1/rank", GOOD, {"content-type": "text/plain", **token})
    assert status == 422 and "JSON" in answer["detail"][0]["msg"]
    _, headers, answer = call(app, "GET", "/v1/rank", b"", {"authorization": "Bearer b"})
    assert headers[b"allow"] == b"POST"
    extra = b'{"user_id": "1", "illust_ids": ["1"], "x": 1}'
    _, _, answer = call(app, "POST", "/v1/rank", extra, {"authorization": "Bearer d"})  # a's budget is spent
    assert answer["detail"][0]["loc"] == ["body", "x"]  # where, as the replica's 422 says it
    assert behind.got == []  # none of them reached the replica
    assert [s for _, s in counted.answers] == [422, 422, 422, 405, 413, 422, 405, 422]
    assert {p for p, _ in counted.answers} == {"/v1/rank", "/v1/recommend"}


def test_good_requests_and_other_apps_paths_pass_unchanged_and_uncounted(shed):
    app, behind, counted = shed
    paths = ["/v1/rank", "/shop/v1/rank", "/wp-login.php", "/-/routes", "/healthz", "/docs"]
    for k, path in enumerate(paths):
        method = "POST" if path.endswith("rank") else "GET"
        status, _, _ = call(app, method, path, GOOD if method == "POST" else b"", {"authorization": f"Bearer c{k}"})
        assert status == 200, path
    assert behind.got == [(p, GOOD if p.endswith("rank") else b"") for p in paths]
    assert counted.answers == []  # the replica counts what it answers


def test_a_client_over_its_limit_gets_429_held_until_its_next_token_and_others_pass(shed):
    app, behind, counted = shed
    flood = [call(app, "POST", "/v1/rank", GOOD, {"authorization": "Bearer flood"})[:2] for _ in range(3)]
    start = time.monotonic()
    status, headers, answer = call(app, "POST", "/v1/rank", GOOD, {"authorization": "Bearer flood"})
    held = time.monotonic() - start
    assert [s for s, _ in flood] == [200, 200, 200] and status == 429  # burst 3, then one per 5 s
    assert held >= 0.9 and int(headers[b"retry-after"]) >= 1 and "rate limit" in answer["detail"]
    assert call(app, "POST", "/v1/rank", GOOD, {"authorization": "Bearer other"})[0] == 200
    assert call(app, "GET", "/healthz", b"", {"authorization": "Bearer flood"})[0] == 200  # probes never limited
    assert len(behind.got) == 5
    assert counted.answers == [("/v1/rank", 429)]


def test_a_bad_request_costs_its_client_refusal_cost_tokens(shed):
    """Limit 0.2/s, burst 3, the default refusal cost 10: one 422 leaves the client 7 tokens short (35 s)."""
    app, behind, counted = shed
    bad = {"authorization": "Bearer scanner"}
    assert call(app, "POST", "/v1/rank", b'{"user_id": ', bad)[0] == 422
    start = time.monotonic()
    status, headers, _ = call(app, "POST", "/v1/rank", GOOD, bad)  # good now, but the budget is spent
    assert status == 429 and int(headers[b"retry-after"]) >= 6 and time.monotonic() - start >= 0.9
    good = [call(app, "POST", "/v1/rank", GOOD, {"authorization": "Bearer good"})[0] for _ in range(3)]
    assert good == [200] * 3 and len(behind.got) == 3  # a client that sends good requests keeps its burst
    assert counted.answers == [("/v1/rank", 422), ("/v1/rank", 429)]


def test_the_endpoints_proxy_answers_bad_requests_without_the_replica(url):
    """Serve adds its deployment and replica labels to what a replica records; the proxy's counts have none."""
    before = settled()
    for _ in range(3):
        assert requests.post(f"{url}/v1/rank", data=b'{"user_id": ', timeout=30).status_code == 422

    def in_proxy(metrics: dict) -> float:
        return sum(
            v
            for (name, labels), v in metrics.items()
            if name == "umair_http_requests_total"
            and {("route", "/v1/rank"), ("status", "422")} <= labels
            and not any(k in ("deployment", "replica") for k, _ in labels)
        )

    after = wait_for(lambda m: in_proxy(m) - in_proxy(before) == 3)
    assert in_proxy(after) - in_proxy(before) == 3
