"""The endpoint's routes, request and answer schemas (pydantic: unknown fields, ids over 128 characters or
not encodable as UTF-8, too many candidates and implausible times are 422s), the 422 answer, the request
size and time limits, and the Ranker's user_config. The replica (ray_apps.serve.app) and Serve's proxy
(ray_apps.serve.proxy_shedding) both check requests against these."""

import json
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field
from starlette.responses import Response

MAX_CANDIDATES = 500
MAX_BODY_BYTES = 64 * 1024
BODY_TIMEOUT_S = 5.0  # the whole request body must arrive within this, else 408
EARLIEST_TS, LATEST_TS = datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


def _utf8(value: str) -> str:
    """Ids are echoed in the answer, which is UTF-8: refuse lone surrogates (JSON '\\ud800')."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError("not encodable as UTF-8 (lone surrogate escape)") from e
    return value


def _plausible_time(value: datetime | None) -> datetime | None:
    if value is not None and not EARLIEST_TS <= (value if value.tzinfo else value.replace(tzinfo=UTC)) < LATEST_TS:
        raise ValueError(f"ts must lie in [{EARLIEST_TS.year}, {LATEST_TS.year})")
    return value


Id = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_utf8)]


class RankRequest(BaseModel):
    model_config = {"extra": "forbid"}
    user_id: Id
    illust_ids: list[Id] = Field(min_length=1, max_length=MAX_CANDIDATES)
    ts: Annotated[datetime | None, AfterValidator(_plausible_time)] = Field(
        default=None, description="when the illustrations are shown (default: now)"
    )


class RecommendRequest(BaseModel):
    model_config = {"extra": "forbid"}
    user_id: Id
    k: int = Field(default=10, ge=1, le=100)
    exclude_seen: bool = True


class Scored(BaseModel):
    illust_id: str
    score: float
    known: bool


class RankResponse(BaseModel):
    user_id: str
    known_user: bool
    results: list[Scored]


class ServeTarget(BaseModel):
    """The Ranker's user_config: the run it serves and the lake that run was trained on."""

    model_config = {"extra": "forbid"}
    run: str
    lake: str


# path -> (method, schema of its JSON body or None); FastAPI's documentation pages besides (GET)
ROUTES: dict[str, tuple[str, type[BaseModel] | None]] = {
    "/v1/rank": ("POST", RankRequest),
    "/v1/recommend": ("POST", RecommendRequest),
    "/v1/model": ("GET", None),
    "/healthz": ("GET", None),
}
DOC_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})


def unprocessable(errors: list[dict]) -> Response:
    """422 with where and what for each error, without echoing the input (a bad value may not encode:
    NaN, infinity, lone surrogates; or be 60 KB long). ASCII-escaped, so any key the client sent encodes."""
    detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in errors]
    return Response(json.dumps({"detail": detail}, default=str), status_code=422, media_type="application/json")
