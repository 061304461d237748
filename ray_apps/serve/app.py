"""Ray Serve: the ranking endpoint for product services.

    serve deploy deploy/serve_config.yaml          (import path ray_apps.serve.app:ranker, run in user_config)
    umair serve --run RUNS/umair_fps --lake LAKE   (ray_apps/serve/deploy.py: start, swap, write the config)

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
Metrics: requests by route and status, latencies, batch sizes, cold-start counts, scores and the
served version, through Ray's metrics export (ray_apps.serve.metrics).
"""

import asyncio
import logging
import os
import time
from collections import deque
from datetime import datetime

import numpy as np
import torch
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from ray import serve

from ray_apps.serve.guard import RequestGuard
from ray_apps.serve.metrics import MetricsMiddleware, replica_metrics
from ray_apps.serve.schemas import (
    BODY_TIMEOUT_S,
    MAX_BODY_BYTES,
    RankRequest,
    RankResponse,
    RecommendRequest,
    ServeTarget,
    unprocessable,
)
from ray_apps.serve.served_run import ServedRun
from umair_models import storage

APP_NAME = "umair"
BATCH_SIZE = 16
BATCH_WAIT_S = 0.001  # a lone request waits this long for company; under load the queue fills batches anyway

api = FastAPI(title="UMAIR-FPS ranking API", version="1")


api.add_middleware(RequestGuard, max_body_bytes=MAX_BODY_BYTES, body_timeout_s=BODY_TIMEOUT_S)
api.add_middleware(MetricsMiddleware)  # added last: outermost, so the guard's refusals are counted too


@api.exception_handler(RequestValidationError)
async def validation_error(request: Request, exc: RequestValidationError) -> Response:
    """FastAPI's default handler returns each bad value, which fails to encode for NaN / infinity /
    lone surrogates (a 500) and sends a 60 KB string straight back: ours does not echo the input."""
    return unprocessable(list(exc.errors()))


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
        self.metrics = replica_metrics()

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
        about = loaded.describe()
        self.metrics.serving(about["run"], about["model"] or "", about["trained_at"] or "")

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
            started = time.perf_counter()
            probs = served.score({k: np.concatenate([f[k] for f in features]) for k in features[0]})
            self.metrics.forward_pass(len(members), time.perf_counter() - started)
            for i, p in zip(members, np.split(probs, np.cumsum(sizes)[:-1])):
                out[i] = p
        return out

    async def _rank(
        self, served: ServedRun, user_id: str, illust_ids: list[str], ts: datetime | None, k: int | None = None
    ) -> JSONResponse:
        """Score, sort and answer with the RankResponse shape (built as plain JSON: the declared
        response_model documents it; skipping its re-validation keeps the request path short)."""
        started = time.perf_counter()
        features, known = served.store.features(user_id, illust_ids, ts)
        lookup_s = time.perf_counter() - started
        scores = (await self._score((served, features))).tolist()
        order = sorted(range(len(illust_ids)), key=lambda i: -scores[i])[:k]
        results = [{"illust_id": illust_ids[i], "score": scores[i], "known": known[i]} for i in order]
        known_user = served.store.known_user(user_id)
        self.metrics.ranked_request(known_user, known, scores, lookup_s)
        if served.drift is not None:  # every scored candidate, before the top-k cut
            served.drift.add(scores)
            self.metrics.drift(served.drift.psi())
        return JSONResponse({"user_id": user_id, "known_user": known_user, "results": results})

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
