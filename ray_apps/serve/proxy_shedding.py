"""Shedding in Serve's HTTP proxy: bad and over-limit requests are answered before they cost a replica.

Ray Serve's proxy wraps its ASGI app in the Starlette middlewares returned by the function that the
environment variable RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH names; the proxy actor reads it from
its environment when it starts. A local Ray started by our apps gets
`ray_apps.serve.proxy_shedding:middlewares` unless the variable is set (ray_apps.runtime); on a
cluster set it on every node (deploy/kuberay/ does). In the proxy, before a request crosses to a
replica:

- the guard (ray_apps.serve.guard), with the proxy's environment: the per-client rate limit
  (UMAIR_SERVE_RATE_LIMIT) 429 with Retry-After, held back until the client's next token (waiting costs
  the proxy no replica slot, and a flood that retries at once is slowed to its rate), the bearer token (UMAIR_SERVE_TOKEN) 401, a
  declared or read body over the size limit 413, a body slower than the time limit 408;
- a request for one of the ranker's routes (the path ends in it: any route prefix) with another
  method: 405; the JSON body of its POST routes parsed and validated against the request schema:
  422 with where and what, the shape the replica answers with.

Paths that are no route of the ranker pass on untouched (another app may own them; Serve or the
replica answers 404), and so do /healthz and Serve's own paths (/-/healthz, /-/routes: probes).
What passes keeps its
body; the replica checks it again with the same code (and its own environment's limits), which keeps
a deployment without the callback safe. Each refusal is counted in `umair_http_requests_total` as the
replica counts its answers (ray_apps.serve.metrics), so the counters still add up to what was sent.
"""

from __future__ import annotations

import time

from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.middleware import Middleware

from ray_apps.serve.guard import BODY, OPEN_PATHS, RequestGuard
from ray_apps.serve.metrics import replica_metrics
from ray_apps.serve.schemas import BODY_TIMEOUT_S, DOC_PATHS, MAX_BODY_BYTES, ROUTES, unprocessable

FORWARDED = "umair.forwarded"  # set in the ASGI scope of a request the shedding let through
ROUTE = "umair.route"  # the ranker route a request is for, in its ASGI scope


def middlewares() -> list[Middleware]:
    """The callback Serve's proxy calls (RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH)."""
    return [Middleware(ProxyShedding)]


def ranker_route(path: str) -> str | None:
    """The ranker route `path` ends in ("/v1/rank" for "/v1/rank" and "/shop/v1/rank"), or None."""
    for route in (*ROUTES, *DOC_PATHS):
        if path == route or path.endswith(route):
            return route
    return None


class ProxyShedding:
    """Pure ASGI around Serve's proxy app."""

    def __init__(self, app) -> None:
        self.app = app
        self.checks = RequestGuard(
            self._check_route, max_body_bytes=MAX_BODY_BYTES, body_timeout_s=BODY_TIMEOUT_S, hold_over_limit=True
        )

    async def __call__(self, scope, receive, send) -> None:
        route = ranker_route(scope["path"]) if scope["type"] == "http" else None
        if route is None or route in OPEN_PATHS:  # another app's path, Serve's own, a health probe
            await self.app(scope, receive, send)
            return
        scope[ROUTE], start, status = route, time.perf_counter(), [0]

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        await self.checks(scope, receive, sending)
        if status[0] and not scope.get(FORWARDED):  # answered here: the replica never saw it, so count it here
            replica_metrics().answered(route, status[0], time.perf_counter() - start)

    async def _check_route(self, scope, receive, send) -> None:
        """After the guard: the method of the route, then the JSON body of a POST route (the guard has
        read it, within its size and time limits) against the route's request schema."""
        method, schema = ROUTES.get(scope[ROUTE], ("GET", None))  # documentation pages: GET
        if scope["method"] != method:
            headers = {"Allow": method}
            await JSONResponse({"detail": "Method Not Allowed"}, status_code=405, headers=headers)(scope, receive, send)
            return
        if schema is not None:
            if not _json_content(dict(scope["headers"]).get(b"content-type")):
                error = {
                    "loc": ["body"],
                    "msg": "expected a JSON body (content-type: application/json)",
                    "type": "json",
                }
                await unprocessable([error])(scope, receive, send)
                return
            try:
                schema.model_validate_json(scope.get(BODY, b""))
            except ValidationError as e:
                errors = [{**err, "loc": ["body", *err.get("loc", ())]} for err in e.errors(include_input=False)]
                await unprocessable(errors)(scope, receive, send)
                return
        scope[FORWARDED] = True
        await self.app(scope, receive, send)  # the guard's receive hands the body over unread


def _json_content(content_type: bytes | None) -> bool:
    """FastAPI's rule: no content-type, application/json or application/*+json is parsed as JSON."""
    if not content_type:
        return True
    kind = content_type.split(b";", 1)[0].strip().lower()
    return kind == b"application/json" or (kind.startswith(b"application/") and kind.endswith(b"+json"))
