"""HTTP requests to the endpoint written as raw bytes and sent over sockets, one connection each: the
client under our hostile-traffic test, the model-swap and fuzz benchmarks, and an operator's probe.

Raw sockets, not an HTTP client library, because the hostile requests (ray_apps/serve/hostile_requests.py)
are ones a well-behaved library refuses to send: a body that stalls half-way, a declared length that
lies, bytes that are not UTF-8, a method nobody knows. `send` reads one answer; `send_all` a batch at
bounded concurrency; `paced` an open-loop stream at a fixed rate.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

GOOD_RANK: dict[str, Any] = {"user_id": "1000001", "illust_ids": ["80000001", "80000002", "80000003"]}


@dataclass(frozen=True)
class RawRequest:
    kind: str
    head: bytes  # request line and headers, up to and including the blank line
    body: bytes = b""
    stall_after: int | None = None  # send this many bytes of the body, then nothing more


@dataclass(frozen=True)
class Answer:
    kind: str
    status: int | None  # None: no status line came back (connection closed, timed out)
    body: bytes
    seconds: float

    @property
    def status_class(self) -> str:
        return "none" if self.status is None else f"{self.status // 100}xx"


def raw(
    kind: str,
    method: str,
    path: str,
    body: bytes = b"",
    content_type: str | None = "application/json",
    extra_headers: list[tuple[str, str]] | None = None,
    length: str | None = None,
    stall_after: int | None = None,
    token: str | None = None,
) -> RawRequest:
    """A request with `Connection: close` (the answer ends at EOF) and a content-length that is the
    body's unless `length` says otherwise (or "" to leave it out)."""
    headers = [("Host", "127.0.0.1"), ("Connection", "close")]
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    if token is not None:
        headers.append(("Authorization", f"Bearer {token}"))
    declared = str(len(body)) if length is None else length
    if declared:
        headers.append(("Content-Length", declared))
    headers += extra_headers or []
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return RawRequest(kind, head.encode("latin-1"), body, stall_after)


def json_body(value) -> bytes:
    return json.dumps(value).encode()


def post_rank(kind: str, body: bytes, **kw) -> RawRequest:
    return raw(kind, "POST", "/v1/rank", body, **kw)


def good_rank_requests(n: int, body: dict | None = None, token: str | None = None) -> list[RawRequest]:
    """n copies of a valid POST /v1/rank (GOOD_RANK unless `body`)."""
    return [raw("good", "POST", "/v1/rank", json_body(body or GOOD_RANK), token=token) for _ in range(n)]


# --- sending ---------------------------------------------------------------------------------------
async def send(host: str, port: int, request: RawRequest, timeout_s: float) -> Answer:
    """Send the raw request, read the answer to EOF (`Connection: close`); status None when none came."""
    start = time.perf_counter()
    status, body = None, b""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
        try:
            sent = request.body if request.stall_after is None else request.body[: request.stall_after]
            writer.write(request.head + sent)
            await writer.drain()
            data = await asyncio.wait_for(_read_answer(reader), timeout_s)
        finally:
            writer.close()
        status, body = _parse(data)
    except (TimeoutError, ConnectionError, OSError):
        pass
    return Answer(request.kind, status, body, time.perf_counter() - start)


async def _read_answer(reader: asyncio.StreamReader) -> bytes:
    """One HTTP answer: the head, then a content-length's worth of body, a chunked body to its last
    chunk, or everything to EOF."""
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            if not (chunk := await reader.read(65536)):
                return data
            data += chunk
        head = data.partition(b"\r\n\r\n")[0].lower()
        length = next((int(line[15:]) for line in head.split(b"\r\n") if line.startswith(b"content-length:")), None)
        size = len(head) + 4 + (length or 0)
        while (len(data) < size) if length is not None else not _finished(head, data):
            if not (chunk := await reader.read(65536)):
                break
            data += chunk
    except ConnectionResetError:
        pass  # the server answered, then reset because we had sent more than it read
    return data


def _finished(head: bytes, data: bytes) -> bool:
    return b"transfer-encoding: chunked" in head and data.endswith(b"0\r\n\r\n")


def _parse(data: bytes) -> tuple[int | None, bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return None, b""
    if b"transfer-encoding: chunked" in head.lower():
        body = _unchunk(body)
    return int(parts[1]), body


def _unchunk(data: bytes) -> bytes:
    out = []
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out.append(rest[:size])
        data = rest[size + 2 :]
    return b"".join(out)


async def send_all(
    host: str, port: int, requests: list[RawRequest], concurrency: int, timeout_s: float
) -> list[Answer]:
    """Send `requests` over at most `concurrency` connections at a time; answers in request order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(r: RawRequest) -> Answer:
        async with gate:
            return await send(host, port, r, timeout_s)

    return list(await asyncio.gather(*(one(r) for r in requests)))


def has_message(answer: Answer) -> bool:
    """A 4xx body that says something: FastAPI's {"detail": ...} or a parser's plain-text reason."""
    text = answer.body.strip()
    if not text:
        return False
    try:
        detail = json.loads(text).get("detail")
    except (ValueError, AttributeError):
        return True  # plain text, e.g. the proxy's "Invalid HTTP request received."
    return bool(detail)


async def paced(host: str, port: int, requests: list[RawRequest], rate: float, timeout_s: float) -> list[Answer]:
    """Send request i at i / rate seconds (open loop), each on its own connection; answers in order."""
    start = time.perf_counter()
    tasks = []
    for i, r in enumerate(requests):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(host, port, r, timeout_s)))
    return list(await asyncio.gather(*tasks))
