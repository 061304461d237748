"""Hostile HTTP requests for the ranking endpoint: every one is bad in one way (`KINDS` names the ways);
a correct endpoint answers each with a 4xx and a message, never a 5xx, never by hanging. Used by
tests/ray_apps/serve/test_hostile_http.py and bench/serve_fuzz.py; sent with ray_apps/serve/raw_http.py.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from ray_apps.serve.raw_http import GOOD_RANK, RawRequest, json_body, post_rank, raw


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
    return post_rank("malformed_json", junk)


def truncated_json(rng: random.Random) -> RawRequest:
    good = json_body({**GOOD_RANK, "illust_ids": [str(80000000 + i) for i in range(rng.randint(1, 40))]})
    return post_rank("truncated_json", good[: rng.randint(1, len(good) - 1)])


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
    return post_rank("deeply_nested", body)


WRONG_VALUES: dict[str, list[Any]] = {
    "user_id": [5, None, [], {}, ["1"], True, 1.5, ""],
    "illust_ids": ["80000001", {}, [1, 2], [None], [[]], [{}], None, 7, [""]],
    "ts": ["yesterday", "2024-13-45T99:99:99", 1e400, [], {}, "9999-12-31T23:59:59", "0001-01-01T00:00:00-14:00"],
}


def wrong_types(rng: random.Random) -> RawRequest:
    field = rng.choice(sorted(WRONG_VALUES))
    body: dict[str, Any] = {**GOOD_RANK, field: rng.choice(WRONG_VALUES[field])}
    if rng.random() < 0.2:
        body = {k: v for k, v in body.items() if k != rng.choice(["user_id", "illust_ids"])}  # a field missing
    if rng.random() < 0.2:
        body["unknown_field"] = 1
    return post_rank("wrong_types", json.dumps(body, allow_nan=True).encode())


def huge_values(rng: random.Random) -> RawRequest:
    choice = rng.randrange(7)
    if choice == 0:  # an integer too long for Python's int parser limit (4300 digits)
        return raw("huge_values", "POST", "/v1/recommend", b'{"user_id": "1", "k": ' + b"9" * 5000 + b"}")
    if choice == 1:
        return raw("huge_values", "POST", "/v1/recommend", json_body({"user_id": "1", "k": 10**30}))
    if choice == 2:
        return post_rank(
            "huge_values",
            b'{"user_id": "1", "illust_ids": ["1"], "ts": ' + rng.choice([b"1e400", b"NaN", b"-Infinity"]) + b"}",
        )
    if choice == 3:
        return post_rank("huge_values", json_body({"user_id": "u" * rng.randint(129, 60_000), "illust_ids": ["1"]}))
    if choice == 4:
        return post_rank(
            "huge_values",
            json_body({"user_id": "1", "illust_ids": [str(i) for i in range(rng.randint(501, 5000))]}),
        )
    if choice == 5:
        return post_rank("huge_values", json_body({"user_id": "1", "illust_ids": ["x" * rng.randint(129, 60_000)]}))
    return raw(
        "huge_values",
        "POST",
        "/v1/recommend",
        json_body({"user_id": "1", "k": rng.choice([0, -1, 101, 1.5, "ten", None])}),
    )


def invalid_utf8(rng: random.Random) -> RawRequest:
    bad = rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80"])
    if rng.random() < 0.3:  # valid bytes, but a JSON escape of a lone surrogate
        return post_rank("invalid_utf8", b'{"user_id": "\\ud800", "illust_ids": ["1"]}')
    return post_rank("invalid_utf8", b'{"user_id": "1' + bad + b'", "illust_ids": ["1"]}')


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
    body = json_body(GOOD_RANK) if rng.random() < 0.5 else b"user_id=1&illust_ids=1"
    return post_rank("wrong_content_type", body, content_type=content_type)


def oversized_declared(rng: random.Random) -> RawRequest:
    """Declares a body over the limit and sends none of it: the answer must not wait for it."""
    return post_rank("oversized_declared", b"", length=str(rng.choice([65_537, 10**6, 10**9, 10**15])))


def oversized_undeclared(rng: random.Random) -> RawRequest:
    """A chunked body with no content-length, over the limit."""
    chunk = b"x" * 8192
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(rng.randint(9, 14))) + b"0\r\n\r\n"
    return post_rank("oversized_undeclared", chunks, length="", extra_headers=[("Transfer-Encoding", "chunked")])


def unknown_path(rng: random.Random) -> RawRequest:
    path = rng.choice(
        ["/v2/rank", "/v1/rank/extra", "/%2e%2e/etc/passwd", "/" + "a" * 2000, "/v1/model/../../x", "/docs/../v9"]
    )
    return raw("unknown_path", rng.choice(["GET", "POST"]), path, json_body(GOOD_RANK))


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
    return raw("wrong_method", method, path, json_body(GOOD_RANK))


def bad_protocol(rng: random.Random) -> RawRequest:
    """Requests an HTTP parser must refuse: garbage, a malformed or contradictory length, bad headers."""
    case = rng.randrange(6)
    if case == 0:
        return RawRequest(
            "bad_protocol", bytes(rng.randrange(33, 127) for _ in range(rng.randint(5, 200))) + b"\r\n\r\n"
        )
    if case == 1:
        return post_rank("bad_protocol", json_body(GOOD_RANK), length=rng.choice(["abc", "-1", "1e3", "0x10"]))
    if case == 2:
        good = json_body(GOOD_RANK)
        return post_rank("bad_protocol", good, extra_headers=[("Content-Length", str(len(good) + 7))])
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
    good = json_body(GOOD_RANK)
    return post_rank("slow_body", good, stall_after=rng.randint(0, len(good) - 1))


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
