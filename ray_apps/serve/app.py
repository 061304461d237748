"""Ray Serve: the ranking endpoint for product services.

    umair serve --run RUNS/umair_fps --lake LAKE [--port 8000]
    umair serve --run RUNS/other --lake LAKE --address auto --swap   (move a live endpoint to another run)
    serve deploy deploy/serve_config.yaml          (import path ray_apps.serve.app:ranker, run in user_config)

HTTP JSON API (OpenAPI schema at /docs and /openapi.json):
  POST /v1/rank       {"user_id": "1000001", "illust_ids": ["80000001", ...], "ts": optional ISO time}
                      -> {"user_id", "known_user", "results": [{"illust_id", "score", "known"}, ...] sorted}
  POST /v1/recommend  {"user_id": "1000001", "k": 10, "exclude_seen": true}
                      -> top-k from candidates = popular items + nearest neighbours (item vectors)
                         of the user's recent bookmarks (a faiss index built offline with the
                         run's serving export into RUN/serving/), ranked by the model
  GET  /healthz       -> {"status": "ok"}
  GET  /v1/model      -> model name, run, trained-at, metrics, feature versions, swaps, replica, batching
Cold start: unknown users and illustrations are scored with out-of-vocabulary inputs (known=false),
never an error. Bad requests get 4xx with a message (400 unparsable, 401 no token, 404 / 405,
408 body too slow, 413 body too large, 422 validation); overload answers 503 (bounded queue)
instead of piling up. With UMAIR_SERVE_TOKEN set in the replicas' environment every path but
/healthz needs `Authorization: Bearer <token>` (ray_apps.serve.guard).
Model swap: the run is the deployment's user_config, loaded by `Ranker.reconfigure`; each request
finishes on the run it started with (ray_apps.serve.served_run).
"""

import argparse
import asyncio
import json
import logging
import os
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, BaseModel, Field
from ray import serve

from ray_apps import storage
from ray_apps.serve.guard import TOKEN_ENV, RequestGuard
from ray_apps.serve.served_run import ServedRun
from ray_apps.settings import add_address_flag, add_config_file_flag, add_config_flags, config_from_args, setting

APP_NAME = "umair"
MAX_CANDIDATES = 500
MAX_BODY_BYTES = 64 * 1024
BODY_TIMEOUT_S = 5.0  # the whole request body must arrive within this, else 408
BATCH_SIZE = 16
BATCH_WAIT_S = 0.001  # a lone request waits this long for company; under load the queue fills batches anyway
EARLIEST_TS, LATEST_TS = datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)

api = FastAPI(title="UMAIR-FPS ranking API", version="1")


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


api.add_middleware(RequestGuard, max_body_bytes=MAX_BODY_BYTES, body_timeout_s=BODY_TIMEOUT_S)


@api.exception_handler(RequestValidationError)
async def validation_error(request: Request, exc: RequestValidationError) -> Response:
    """422 with where and what, without echoing the input: FastAPI's default handler returns each
    bad value, which fails to encode for NaN / infinity / lone surrogates (a 500) and sends a 60 KB
    string straight back. ASCII-escaped, so any key the client sent encodes."""
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()]
    return Response(json.dumps({"detail": errors}, default=str), status_code=422, media_type="application/json")


@serve.deployment(max_ongoing_requests=32, max_queued_requests=64, ray_actor_options={"num_cpus": 1})
@serve.ingress(api)
class Ranker:
    """One replica. Its user_config (a ServeTarget) names the run it serves; `reconfigure` loads it.

    A new user_config (`umair serve --swap`, `serve deploy` with another user_config.run, a
    RayService edit) swaps the run in place while requests keep flowing.
    """

    def __init__(self) -> None:
        torch.set_num_threads(1)
        self.served: ServedRun | None = None
        self.swaps = 0
        self.swap_error: str | None = None
        self.process = {"pid": os.getpid(), "started_at": datetime.now().isoformat(timespec="seconds")}
        self.batches = 0
        self.max_batch_size = 0
        self.recent_batch_sizes: deque[int] = deque(maxlen=50)

    async def reconfigure(self, user_config: dict) -> None:
        """Load the run named by `user_config` off the event loop, then swap to it in one assignment:
        requests in flight finish on the run they started with. A run that fails to load leaves the
        current one serving (the error is in /v1/model as `swap_error`); only a replica with no run
        yet fails."""
        target = ServeTarget(**user_config)
        try:
            loaded = await asyncio.to_thread(ServedRun.load, target.run, target.lake)
        except Exception as e:
            if self.served is None:
                raise
            self.swap_error = f"{target.run}: {type(e).__name__}: {e}"
            logging.getLogger("ray.serve").error("swap to %s failed; still serving %s", target.run, self.served.run)
            return
        self.swaps += self.served is not None
        self.served, self.swap_error = loaded, None

    async def serving(self) -> dict:
        """For `swap` (through a deployment handle): the run this replica serves and the last swap error."""
        return {"run": str(self.served.run) if self.served else None, "swap_error": self.swap_error}

    def _current(self) -> ServedRun:
        if self.served is None:  # Serve calls reconfigure before routing requests; guard all the same
            raise HTTPException(503, "no run loaded yet")
        return self.served

    @serve.batch(max_batch_size=BATCH_SIZE, batch_wait_timeout_s=BATCH_WAIT_S)
    async def _score(self, requests: list[tuple[ServedRun, dict[str, np.ndarray]]]) -> list[np.ndarray]:
        """Concatenate the candidates of concurrent requests into one forward pass per run (two runs
        only while a swap is under way)."""
        self.batches += 1
        self.max_batch_size = max(self.max_batch_size, len(requests))
        self.recent_batch_sizes.append(len(requests))
        out: list[np.ndarray] = [np.empty(0)] * len(requests)
        for served in {id(s): s for s, _ in requests}.values():
            members = [i for i, (s, _) in enumerate(requests) if s is served]
            features = [requests[i][1] for i in members]
            sizes = [len(next(iter(f.values()))) for f in features]
            probs = served.score({k: np.concatenate([f[k] for f in features]) for k in features[0]})
            for i, p in zip(members, np.split(probs, np.cumsum(sizes)[:-1])):
                out[i] = p
        return out

    async def _rank(
        self, served: ServedRun, user_id: str, illust_ids: list[str], ts: datetime | None, k: int | None = None
    ) -> JSONResponse:
        """Score, sort and answer with the RankResponse shape (built as plain JSON: the declared
        response_model documents it; skipping its re-validation keeps the request path short)."""
        features, known = served.store.features(user_id, illust_ids, ts)
        scores = (await self._score((served, features))).tolist()
        order = sorted(range(len(illust_ids)), key=lambda i: -scores[i])[:k]
        results = [{"illust_id": illust_ids[i], "score": scores[i], "known": known[i]} for i in order]
        return JSONResponse({"user_id": user_id, "known_user": served.store.known_user(user_id), "results": results})

    @api.post("/v1/rank", response_model=RankResponse)
    async def rank(self, body: RankRequest) -> JSONResponse:
        return await self._rank(self._current(), body.user_id, list(dict.fromkeys(body.illust_ids)), body.ts)

    @api.post("/v1/recommend", response_model=RankResponse)
    async def recommend(self, body: RecommendRequest) -> JSONResponse:
        served = self._current()
        candidates = served.retrieval.candidates(body.user_id, body.exclude_seen)
        ids = served.store.illust_ids(candidates)
        return await self._rank(served, body.user_id, ids, None, body.k)

    @api.get("/healthz")
    async def healthz(self) -> dict:
        return {"status": "ok"}

    @api.get("/v1/model")
    async def model_info(self) -> dict:
        return {
            **self._current().describe(),
            "swaps": self.swaps,
            "swap_error": self.swap_error,
            "replica": self.process,
            "batching": {
                "batches": self.batches,
                "max_batch_size": self.max_batch_size,
                "recent_batch_sizes": list(self.recent_batch_sizes),
            },
        }


ranker = Ranker.bind()  # type: ignore[attr-defined]  # import path for Serve configs: the run is its user_config


@dataclass(frozen=True)
class ReplicaPlacement:
    """How many replicas run and where: `resources` are custom Ray resources each replica also needs
    (replicas go to nodes started with them); at most `per_node` replicas on one node (0: no limit)."""

    replicas: int = 1
    resources: dict[str, float] = field(default_factory=dict)
    per_node: int = 0

    def deployment_options(self) -> dict:
        """The Serve deployment-config keys for this placement (none for the default: one replica anywhere)."""
        options: dict = {}
        if self.replicas != 1:
            options["num_replicas"] = self.replicas
        if self.per_node:
            options["max_replicas_per_node"] = self.per_node
        if self.resources:  # replaces the decorator's ray_actor_options: keep its CPU
            options["ray_actor_options"] = {"num_cpus": 1, "resources": dict(self.resources)}
        return options


def serve_config(run: str, lake: str, access_log: bool = False, placement: ReplicaPlacement | None = None) -> dict:
    """The Serve config `umair serve` applies (the shape of deploy/serve_config.yaml): the run is the
    Ranker's user_config, so applying it again with another run swaps in place (keep the same
    `placement`: a change of replica options replaces the replicas instead)."""
    target = ServeTarget(run=storage.absolute(run), lake=storage.absolute(lake))
    deployment = {
        "name": "Ranker",
        "user_config": target.model_dump(),
        **(placement or ReplicaPlacement()).deployment_options(),
    }
    app = {
        "name": APP_NAME,
        "route_prefix": "/",
        "import_path": "ray_apps.serve.app:ranker",
        "logging_config": {"enable_access_log": access_log},
        "deployments": [deployment],
    }
    return {"applications": [app]}


class AppArgs(BaseModel):
    run: str
    lake: str


def app_builder(args: dict) -> serve.Application:
    """Typed builder for Serve configs that pass the run as `args` (run, lake). A change of args is
    a new version (Serve replaces the replicas); prefer `ray_apps.serve.app:ranker` with the run in
    the Ranker's user_config, which swaps in place."""
    a = AppArgs(**args)
    target = ServeTarget(run=storage.absolute(a.run), lake=storage.absolute(a.lake))
    return Ranker.options(user_config=target.model_dump()).bind()  # type: ignore[attr-defined]


def _deploy(run: str, lake: str, access_log: bool, placement: ReplicaPlacement | None, timeout_s: float = 300) -> None:
    """Apply serve_config(run, lake) as `serve deploy` would, and wait until every replica serves `run`.

    The run is checked here first (model loads, serving export built), so a wrong path fails in
    this process with the file's name, not in a replica.
    """
    from ray.serve.context import _get_global_client  # what `serve deploy` / `serve run CONFIG` use
    from ray.serve.schema import ApplicationStatus, ServeDeploySchema

    from ray_apps.artifacts import load_ranker
    from ray_apps.serve import export

    load_ranker(run)
    export.ensure(run, lake, publish=True)
    config = serve_config(run, lake, access_log, placement)
    client = _get_global_client()
    if client is None:
        raise RuntimeError("Serve is not running on this Ray cluster (start the endpoint first)")
    client.deploy_apps(ServeDeploySchema.model_validate(config))
    wanted = config["applications"][0]["deployments"][0]["user_config"]["run"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = serve.status().applications.get(APP_NAME)
        if status is not None and status.status == ApplicationStatus.RUNNING:
            handle = serve.get_app_handle(APP_NAME)
            answers = [handle.serving.remote().result() for _ in range(4)]  # a sample of the replicas
            if all(a["run"] == wanted for a in answers):
                return
            if any(a["swap_error"] and wanted in a["swap_error"] for a in answers):
                raise RuntimeError(next(a["swap_error"] for a in answers if a["swap_error"]))
        time.sleep(0.2)
    raise TimeoutError(f"the endpoint did not serve {wanted} within {timeout_s:g} s (see `serve status`)")


def start(
    run: str,
    lake: str,
    port: int = 8000,
    address: str | None = None,
    access_log: bool = False,
    placement: ReplicaPlacement | None = None,
    proxy_location: str = "EveryNode",
    host: str = "127.0.0.1",
) -> str:
    """Start Serve on host:port with the ranker app; -> its base URL (on 127.0.0.1).

    Per-request access-log lines are off unless `access_log`: on a small machine writing and
    forwarding one log line per request costs a visible share of the CPU the replica needs.
    """
    from ray_apps.console import quiet_libraries
    from ray_apps.runtime import init_ray

    init_ray(address)
    quiet_libraries()  # Ray Serve's logger exists once serve is imported
    logs = {"enable_access_log": access_log}
    serve.start(  # the proxy's own access log too
        http_options={"host": host, "port": port}, logging_config=logs, proxy_location=proxy_location
    )
    _deploy(run, lake, access_log, placement)
    return f"http://127.0.0.1:{port}"


def swap(
    run: str,
    lake: str,
    address: str | None = None,
    access_log: bool = False,
    placement: ReplicaPlacement | None = None,
) -> None:
    """Move the running endpoint to another run without dropping a request: the new run becomes the
    Ranker's user_config, each replica loads it beside the old one and swaps (Ranker.reconfigure).
    Returns when every replica serves it. `placement`: the one the endpoint was started with."""
    from ray_apps.console import quiet_libraries
    from ray_apps.runtime import init_ray

    init_ray(address)
    quiet_libraries()
    _deploy(run, lake, access_log, placement)


@dataclass
class ServeOptions:
    run: str = setting(help="a run folder written by `umair train` (has model.safetensors)")
    lake: str = setting(help="the lake the run was trained on (feature tables, item vectors)")
    port: int = setting(8000, "HTTP port of the proxies")
    host: str = setting("127.0.0.1", "address the proxies bind (0.0.0.0 takes traffic from other machines)")
    access_log: bool = setting(False, "log one line per request (off by default: it costs CPU per request)")
    swap: bool = setting(
        False, "move the endpoint already serving on the Ray cluster at --address to this run (drops nothing), exit"
    )
    replicas: int = setting(1, "replicas of the ranker")
    replica_resources: dict[str, float] = setting(
        {}, "custom Ray resources each replica also needs, e.g. '{serving: 1}': replicas go to nodes that have them"
    )
    replicas_per_node: int = setting(
        0, "at most this many replicas on one node (0: no limit); with --replicas 2, 1 keeps one serving if a node dies"
    )
    proxy_location: str = setting("EveryNode", "where Serve runs its HTTP proxies", choices=("EveryNode", "HeadOnly"))
    write_config: str = setting(
        "", "write this endpoint's Serve config to FILE (for `serve deploy` or a RayService) and exit; starts nothing"
    )

    def placement(self) -> ReplicaPlacement:
        return ReplicaPlacement(self.replicas, dict(self.replica_resources), self.replicas_per_node)

    def deploy_config(self) -> dict:
        """The whole file `serve deploy` takes: proxies, HTTP options and the application."""
        app = serve_config(self.run, self.lake, self.access_log, self.placement())
        return {
            "proxy_location": self.proxy_location,
            "http_options": {"host": self.host, "port": self.port},
            **app,
        }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Serve a trained ranker over HTTP (Ray Serve).")
    add_config_flags(p, ServeOptions)
    add_config_file_flag(p, "serve")
    add_address_flag(p)
    return p


def main(argv: list[str] | None = None) -> int:
    from ray_apps.console import setup_console

    a = build_parser().parse_args(argv)
    setup_console()
    o = config_from_args(ServeOptions, a, "serve")
    if o.write_config:
        import yaml

        Path(o.write_config).write_text(yaml.safe_dump(o.deploy_config(), sort_keys=False))
        print(f"Serve config written to {o.write_config}: serve deploy {o.write_config} --address http://HEAD:8265")
        return 0
    if o.swap:
        swap(o.run, o.lake, a.address, access_log=o.access_log, placement=o.placement())
        print(f"The endpoint now serves {o.run} (GET /v1/model shows the run).")
        return 0
    url = start(o.run, o.lake, o.port, a.address, o.access_log, o.placement(), o.proxy_location, o.host)
    rank = '{"user_id": "1000001", "illust_ids": ["80000010", "80000020"]}'
    json_header = "-H 'content-type: application/json'"
    print(
        f"Serving {o.run} at {url} (Ctrl-C stops). Try:\n"
        f"  curl -s {url}/healthz\n"
        f"  curl -s -X POST {url}/v1/rank {json_header} -d '{rank}'\n"
        f"""  curl -s -X POST {url}/v1/recommend {json_header} -d '{{"user_id": "1000001", "k": 5}}'"""
    )
    if os.environ.get(TOKEN_ENV):
        print(f"{TOKEN_ENV} is set: add -H 'authorization: Bearer ${TOKEN_ENV}' (all but /healthz need it).")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        serve.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
