"""Pure ASGI middleware in front of the ranking API (no Ray here): who may call, and how much they may send.

- Bearer token: when the environment variable UMAIR_SERVE_TOKEN is set in the replica's process
  (a Kubernetes Secret in the RayService; unset for the local demo), every path but /healthz needs
  `Authorization: Bearer <token>`; otherwise 401.
- Rate: with UMAIR_SERVE_RATE_LIMIT="RATE,BURST[,REFUSAL_COST]" set, a client over its budget gets 429 with
  Retry-After before anything else is done for it, and a request of its answered with another 4xx
  costs it more of its budget (ray_apps.serve.ratelimit). With `hold_over_limit` (Serve's proxy, where
  waiting costs no replica a slot) the 429 is sent when the client's next token is back, at most
  HOLD_MAX_S later, for at most HELD_MAX requests at once: a client that retries at once, as a flood
  does, is slowed to the rate it is allowed instead of being answered as fast as it can send.
- Body size: a declared `content-length` over the limit is answered 413 before a byte is read;
  an undeclared (chunked) body is read up to the limit, then 413.
- Body time: the whole body must arrive within `body_timeout_s` of the request's start, else 408,
  so a client that stalls half-way holds a slot of the replica for seconds, not for ever.

The body is buffered (it is small by then), kept in the scope under BODY and replayed to the app. Pure ASGI: Starlette's
@app.middleware("http") wraps every request in extra tasks and streams.
"""

from __future__ import annotations

import asyncio
import hmac
import os

from fastapi.responses import JSONResponse

from ray_apps.serve import ratelimit

TOKEN_ENV = "UMAIR_SERVE_TOKEN"
OPEN_PATHS = frozenset({"/healthz"})  # liveness / readiness probes carry no token
BODY = "umair.body"  # the ASGI scope key of the buffered body (none without content-length / chunks: no body)
HOLD_MAX_S = 1.0  # the longest a 429 is held back (hold_over_limit)
HELD_MAX = 1024  # 429s held at once by one guard; past it they are sent at once


class RequestGuard:
    def __init__(
        self, app, max_body_bytes: int, body_timeout_s: float, token_env: str = TOKEN_ENV, hold_over_limit: bool = False
    ) -> None:
        self.app = app
        self.hold_over_limit = hold_over_limit
        self.held = 0  # 429s being held now
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        token = os.environ.get(token_env, "")
        self.expected_authorization = f"Bearer {token}".encode() if token else None
        self.limiter = ratelimit.from_env()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        limiter = self.limiter if app_path(scope) not in OPEN_PATHS else None
        if limiter is None:
            await self._checked(scope, receive, send, headers, None)
            return
        client = limiter.client_of(scope, headers)
        status = [0]

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        await self._checked(scope, receive, sending, headers, client)
        if 400 <= status[0] < 500 and status[0] != 429:
            limiter.refused(client)  # a bad request costs its client more of its budget

    async def _checked(self, scope, receive, send, headers: dict[bytes, bytes], client: str | None) -> None:
        error = await self._refuse_over_limit(client) if client is not None else None
        error = error or self._refuse_caller(scope, headers) or self._refuse_declared_length(headers)
        if error is None and (b"content-length" in headers or b"transfer-encoding" in headers):
            body, error = await self._read_body(receive)
            if body is None:
                return  # the client went away: nobody to answer
            scope[BODY] = body  # for the checks after the guard (ray_apps.serve.proxy_shedding)
            receive = _replay(body, receive)
        if error is not None:
            await error(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refuse_caller(self, scope, headers: dict[bytes, bytes]) -> JSONResponse | None:
        if self.expected_authorization is None or app_path(scope) in OPEN_PATHS:
            return None
        if hmac.compare_digest(headers.get(b"authorization", b""), self.expected_authorization):
            return None
        return JSONResponse(
            {"detail": "missing or wrong bearer token"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )

    async def _refuse_over_limit(self, client: str) -> JSONResponse | None:
        assert self.limiter is not None  # a client is only named when there is a limit
        wait = self.limiter.wait_s(client)
        if not wait:
            return None
        if self.hold_over_limit and self.held < HELD_MAX:
            self.held += 1
            try:
                await asyncio.sleep(min(wait, HOLD_MAX_S))
            finally:
                self.held -= 1
            wait = max(0.0, wait - HOLD_MAX_S)
        detail = f"over the rate limit of {self.limiter.rate:g} requests/s (burst {self.limiter.burst:g}); retry later"
        return JSONResponse({"detail": detail}, status_code=429, headers={"Retry-After": ratelimit.retry_after(wait)})

    def _refuse_declared_length(self, headers: dict[bytes, bytes]) -> JSONResponse | None:
        size = headers.get(b"content-length")
        if size is not None and not size.isdigit():
            return JSONResponse({"detail": "malformed content-length header"}, status_code=400)
        if size is not None and int(size) > self.max_body_bytes:
            return JSONResponse({"detail": f"request body over {self.max_body_bytes} bytes"}, status_code=413)
        return None

    async def _read_body(self, receive) -> tuple[bytes | None, JSONResponse | None]:
        """(body, None), (b"", 408 / 413 response), or (None, None) when the client disconnected."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout_s
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0))
            except TimeoutError:
                detail = f"request body not received within {self.body_timeout_s:g} s"
                return b"", JSONResponse({"detail": detail}, status_code=408, headers={"Connection": "close"})
            if message["type"] == "http.disconnect":
                return None, None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                detail = f"request body over {self.max_body_bytes} bytes"
                return b"", JSONResponse({"detail": detail}, status_code=413, headers={"Connection": "close"})
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), None


def app_path(scope) -> str:
    """The path below the app's route prefix (Serve passes the prefix as root_path)."""
    path, root = scope["path"], scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _replay(body: bytes, receive):
    """A receive() that hands the buffered body over once, then defers to the real one (disconnects)."""
    sent = False

    async def replayed():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
