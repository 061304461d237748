"""Hostile HTTP requests for the ranking endpoint, sent as raw bytes over loopback sockets.

Used by tests/ray_apps/serve/test_hostile_http.py and bench/serve_fuzz.py. Every request made
here is bad in one way (`KINDS` names the ways); a correct endpoint answers each with a 4xx and
a message, never a 5xx, never by hanging. Raw sockets, not an HTTP client, because most of these
requests are ones a well-behaved client library refuses to send (a body that stalls half-way, a
declared length that lies, bytes that are not UTF-8, a method nobody knows).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

GOOD_RANK = {"user_id": "1000001", "illust_ids": ["80000001", "80000002", "80000003"]}


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


def _json(value) -> bytes:
    return json.dumps(value).encode()


def _post(kind: str, body: bytes, **kw) -> RawRequest:
    return raw(kind, "POST", "/v1/rank", body, **kw)


# --- the ways a request can be bad; each takes a Random and returns one request ----------------
def malformed_json(rng: random.Random) -> RawRequest:
    junk = rng.choice(
        [
            b"{not json",
            b"{'user_id': '1'}",
            b'{"user_id": "1", "illust_ids": ["1"],}',
            b"[]",
            b"null",
            b'"a string"',
            b"{" * rng.randint(1, 50),
            bytes(rng.randrange(32, 127) for _ in range(rng.randint(1, 300))),
        ]
    )
    return _post("malformed_json", junk)


def truncated_json(rng: random.Random) -> RawRequest:
    good = _json({**GOOD_RANK, "illust_ids": [str(80000000 + i) for i in range(rng.randint(1, 40))]})
    return _post("truncated_json", good[: rng.randint(1, len(good) - 1)])


def deeply_nested(rng: random.Random) -> RawRequest:
    depth = rng.randint(1_000, 30_000)
    nested = rng.choice([("[" * depth, "]" * depth), ('{"a":' * depth, "}" * depth)])
    opened, closed = nested
    body = rng.choice(
        [
            opened + "1" + closed,
            '{"user_id": "1", "illust_ids": ' + opened + "1" + closed + "}",
            '{"user_id": ' + opened + "1" + closed + ', "illust_ids": ["1"]}',
        ]
    ).encode()
    return _post("deeply_nested", body)


WRONG_VALUES = {
    "user_id": [5, None, [], {}, ["1"], True, 1.5, ""],
    "illust_ids": ["80000001", {}, [1, 2], [None], [[]], [{}], None, 7, [""]],
    "ts": ["yesterday", "2024-13-45T99:99:99", 1e400, [], {}, "9999-12-31T23:59:59", "0001-01-01T00:00:00-14:00"],
}


def wrong_types(rng: random.Random) -> RawRequest:
    field = rng.choice(sorted(WRONG_VALUES))
    body = {**GOOD_RANK, field: rng.choice(WRONG_VALUES[field])}
    if rng.random() < 0.2:
        body = {k: v for k, v in body.items() if k != rng.choice(["user_id", "illust_ids"])}  # a field missing
    if rng.random() < 0.2:
        body["unknown_field"] = 1
    return _post("wrong_types", json.dumps(body, allow_nan=True).encode())


def huge_values(rng: random.Random) -> RawRequest:
    choice = rng.randrange(7)
    if choice == 0:  # an integer too long for Python's int parser limit (4300 digits)
        return raw("huge_values", "POST", "/v1/recommend", b'{"user_id": "1", "k": ' + b"9" * 5000 + b"}")
    if choice == 1:
        return raw("huge_values", "POST", "/v1/recommend", _json({"user_id": "1", "k": 10**30}))
    if choice == 2:
        return _post(
            "huge_values",
            b'{"user_id": "1", "illust_ids": ["1"], "ts": ' + rng.choice([b"1e400", b"NaN", b"-Infinity"]) + b"}",
        )
    if choice == 3:
        return _post("huge_values", _json({"user_id": "u" * rng.randint(129, 60_000), "illust_ids": ["1"]}))
    if choice == 4:
        return _post(
            "huge_values",
            _json({"user_id": "1", "illust_ids": [str(i) for i in range(rng.randint(501, 5000))]}),
        )
    if choice == 5:
        return _post("huge_values", _json({"user_id": "1", "illust_ids": ["x" * rng.randint(129, 60_000)]}))
    return raw(
        "huge_values", "POST", "/v1/recommend", _json({"user_id": "1", "k": rng.choice([0, -1, 101, 1.5, "ten", None])})
    )


def invalid_utf8(rng: random.Random) -> RawRequest:
    bad = rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80"])
    if rng.random() < 0.3:  # valid bytes, but a JSON escape of a lone surrogate
        return _post("invalid_utf8", b'{"user_id": "\\ud800", "illust_ids": ["1"]}')
    return _post("invalid_utf8", b'{"user_id": "1' + bad + b'", "illust_ids": ["1"]}')


def wrong_content_type(rng: random.Random) -> RawRequest:
    content_type = rng.choice(
        [
            "text/plain",
            "application/xml",
            "multipart/form-data; boundary=x",
            "application/x-www-form-urlencoded",
            "image/png",
        ]
    )
    body = _json(GOOD_RANK) if rng.random() < 0.5 else b"user_id=1&illust_ids=1"
    return _post("wrong_content_type", body, content_type=content_type)


def oversized_declared(rng: random.Random) -> RawRequest:
    """Declares a body over the limit and sends none of it: the answer must not wait for it."""
    return _post("oversized_declared", b"", length=str(rng.choice([65_537, 10**6, 10**9, 10**15])))


def oversized_undeclared(rng: random.Random) -> RawRequest:
    """A chunked body with no content-length, over the limit."""
    chunk = b"x" * 8192
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(rng.randint(9, 14))) + b"0\r\n\r\n"
    return _post("oversized_undeclared", chunks, length="", extra_headers=[("Transfer-Encoding", "chunked")])


def unknown_path(rng: random.Random) -> RawRequest:
    path = rng.choice(
        ["/v2/rank", "/v1/rank/extra", "/%2e%2e/etc/passwd", "/" + "a" * 2000, "/v1/model/../../x", "/docs/../v9"]
    )
    return raw("unknown_path", rng.choice(["GET", "POST"]), path, _json(GOOD_RANK))


def wrong_method(rng: random.Random) -> RawRequest:
    method, path = rng.choice(
        [
            ("GET", "/v1/rank"),
            ("PUT", "/v1/rank"),
            ("DELETE", "/v1/rank"),
            ("PATCH", "/v1/recommend"),
            ("POST", "/healthz"),
            ("DELETE", "/v1/model"),
        ]
    )
    return raw("wrong_method", method, path, _json(GOOD_RANK))


def bad_protocol(rng: random.Random) -> RawRequest:
    """Requests an HTTP parser must refuse: garbage, a malformed or contradictory length, bad headers."""
    case = rng.randrange(6)
    if case == 0:
        return RawRequest(
            "bad_protocol", bytes(rng.randrange(33, 127) for _ in range(rng.randint(5, 200))) + b"\r\n\r\n"
        )
    if case == 1:
        return _post("bad_protocol", _json(GOOD_RANK), length=rng.choice(["abc", "-1", "1e3", "0x10"]))
    if case == 2:
        good = _json(GOOD_RANK)
        return _post("bad_protocol", good, extra_headers=[("Content-Length", str(len(good) + 7))])
    if case == 3:
        return RawRequest("bad_protocol", b"POST /v1/rank HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
    if case == 4:
        return RawRequest(
            "bad_protocol",
            b"POST /v1/rank HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
        )
    return RawRequest(
        "bad_protocol",
        b"POST /v1/rank HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )


def slow_body(rng: random.Random) -> RawRequest:
    """Declares a small body, sends part of it, then stalls."""
    good = _json(GOOD_RANK)
    return _post("slow_body", good, stall_after=rng.randint(0, len(good) - 1))


KINDS: dict[str, Callable[[random.Random], RawRequest]] = {
    f.__name__: f
    for f in (
        malformed_json,
        truncated_json,
        deeply_nested,
        wrong_types,
        huge_values,
        invalid_utf8,
        wrong_content_type,
        oversized_declared,
        oversized_undeclared,
        unknown_path,
        wrong_method,
        bad_protocol,
        slow_body,
    )
}


def hostile_requests(n: int, seed: int, slow: int) -> list[RawRequest]:
    """n bad requests in a seeded random order: `slow` stalled bodies, the rest spread over the other kinds."""
    rng = random.Random(seed)
    others = [k for k in KINDS if k != "slow_body"]
    requests = [KINDS[others[i % len(others)]](rng) for i in range(n - slow)] + [slow_body(rng) for _ in range(slow)]
    rng.shuffle(requests)
    return requests


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


def good_rank_requests(n: int, body: dict | None = None, token: str | None = None) -> list[RawRequest]:
    """n copies of a valid POST /v1/rank (GOOD_RANK unless `body`)."""
    return [raw("good", "POST", "/v1/rank", _json(body or GOOD_RANK), token=token) for _ in range(n)]
