"""Ray Serve: the ranking endpoint for product services.

    umair serve --run RUNS/umair_fps --lake LAKE [--port 8000]
    serve deploy deploy/serve_config.yaml          (import path ray_apps.serve.app:app_builder)

HTTP JSON API (OpenAPI schema at /docs and /openapi.json):
  POST /v1/rank       {"user_id": "1000001", "illust_ids": ["80000001", ...], "ts": optional ISO time}
                      -> {"user_id", "known_user", "results": [{"illust_id", "score", "known"}, ...] sorted}
  POST /v1/recommend  {"user_id": "1000001", "k": 10, "exclude_seen": true}
                      -> top-k from candidates = popular items + nearest neighbours (item vectors)
                         of the user's recent bookmarks (ray_apps.serve.retrieval, built offline
                         into RUN/retrieval.npz), ranked by the model
  GET  /healthz       -> {"status": "ok"}
  GET  /v1/model      -> model name, run, trained-at, metrics, feature versions, batching stats
Cold start: unknown users and illustrations are scored with out-of-vocabulary inputs (known=false),
never an error. Bad requests get 4xx with a message (422 validation, 413 body too large);
overload answers 503 (bounded queue) instead of piling up.
"""

import argparse
import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from ray import serve

from ray_apps.settings import add_address_flag, add_config_file_flag, add_config_flags, config_from_args, setting

MAX_CANDIDATES = 500
MAX_BODY_BYTES = 64 * 1024
BATCH_SIZE = 16
BATCH_WAIT_S = 0.001  # a lone request waits this long for company; under load the queue fills batches anyway

api = FastAPI(title="UMAIR-FPS ranking API", version="1")


class RankRequest(BaseModel):
    model_config = {"extra": "forbid"}
    user_id: str = Field(min_length=1, max_length=128)
    illust_ids: list[str] = Field(min_length=1, max_length=MAX_CANDIDATES)
    ts: datetime | None = Field(default=None, description="when the illustrations are shown (default: now)")


class RecommendRequest(BaseModel):
    model_config = {"extra": "forbid"}
    user_id: str = Field(min_length=1, max_length=128)
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


class BodyLimit:
    """Pure ASGI middleware: 413 for a declared body over MAX_BODY_BYTES, 400 for a malformed length.

    (Starlette's @app.middleware("http") wraps every request in extra tasks and streams; this
    costs nothing per request beyond a header lookup.)
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            size = dict(scope["headers"]).get(b"content-length")
            error = None
            if size is not None and not size.isdigit():
                error = JSONResponse({"detail": "malformed content-length header"}, status_code=400)
            elif size is not None and int(size) > MAX_BODY_BYTES:
                error = JSONResponse({"detail": f"request body over {MAX_BODY_BYTES} bytes"}, status_code=413)
            if error is not None:
                await error(scope, receive, send)
                return
        await self.app(scope, receive, send)


api.add_middleware(BodyLimit)


@serve.deployment(max_ongoing_requests=32, max_queued_requests=64, ray_actor_options={"num_cpus": 1})
@serve.ingress(api)
class Ranker:
    """One replica: the trained model, its item vectors and the feature tables, loaded once."""

    def __init__(self, run: str, lake: str) -> None:
        from ray_apps.artifacts import load_ranker, ranker_trained_at
        from ray_apps.encoders.item_features import encoder_versions, lake_item_vectors, load_item_vectors
        from ray_apps.lake import read_table
        from ray_apps.serve.features import FeatureStore
        from ray_apps.serve.retrieval import INDEX_FILE, RetrievalIndex

        torch.set_num_threads(1)
        self.run, self.lake = Path(run), Path(lake)
        self.model, self.spec, _ = load_ranker(run)
        if self.model.lookups:
            items = lake_item_vectors(lake, read_table(self.lake / "items", ["item_idx"]).num_rows)
            for name, (v, p) in (load_item_vectors(items) if items else {}).items():
                self.model.load_pretrained(name, torch.from_numpy(v), torch.from_numpy(p))
        max_lens = {f.name: f.max_len for f in self.spec.of_kind("multi_categorical")}
        self.store = FeatureStore(lake, self.spec.input_columns(), max_lens)
        self.retrieval = RetrievalIndex.load(self.run / INDEX_FILE)
        self.metrics = (
            json.loads((self.run / "metrics.json").read_text()) if (self.run / "metrics.json").exists() else {}
        )
        self.config = json.loads((self.run / "config.json").read_text()) if (self.run / "config.json").exists() else {}
        self.feature_versions = encoder_versions(lake)
        self.trained_at = datetime.fromtimestamp(ranker_trained_at(run)).isoformat()
        self.batch_sizes: list[int] = []

    @serve.batch(max_batch_size=BATCH_SIZE, batch_wait_timeout_s=BATCH_WAIT_S)
    async def _score(self, requests: list[dict[str, np.ndarray]]) -> list[np.ndarray]:
        """Concatenate the candidates of concurrent requests into one forward pass."""
        self.batch_sizes.append(len(requests))
        sizes = [len(next(iter(r.values()))) for r in requests]
        batch = {k: torch.from_numpy(np.concatenate([r[k] for r in requests])) for k in requests[0]}
        with torch.inference_mode():
            probs = torch.sigmoid(self.model(batch)).numpy()
        return list(np.split(probs, np.cumsum(sizes)[:-1]))

    async def _rank(
        self, user_id: str, illust_ids: list[str], ts: datetime | None, k: int | None = None
    ) -> JSONResponse:
        """Score, sort and answer with the RankResponse shape (built as plain JSON: the declared
        response_model documents it; skipping its re-validation keeps the request path short)."""
        features, known = self.store.features(user_id, illust_ids, ts)
        scores = (await self._score(features)).tolist()
        order = sorted(range(len(illust_ids)), key=lambda i: -scores[i])[:k]
        results = [{"illust_id": illust_ids[i], "score": scores[i], "known": known[i]} for i in order]
        return JSONResponse({"user_id": user_id, "known_user": self.store.known_user(user_id), "results": results})

    @api.post("/v1/rank", response_model=RankResponse)
    async def rank(self, body: RankRequest) -> JSONResponse:
        return await self._rank(body.user_id, list(dict.fromkeys(body.illust_ids)), body.ts)

    @api.post("/v1/recommend", response_model=RankResponse)
    async def recommend(self, body: RecommendRequest) -> JSONResponse:
        candidates = self.retrieval.candidates(body.user_id, body.exclude_seen)
        ids = [self.store.illust_by_idx[i] for i in candidates if i in self.store.illust_by_idx]
        return await self._rank(body.user_id, ids, None, body.k)

    @api.get("/healthz")
    async def healthz(self) -> dict:
        return {"status": "ok"}

    @api.get("/v1/model")
    async def model_info(self) -> dict:
        return {
            "model": self.config.get("model"),
            "variant": self.config.get("variant"),
            "run": self.run.name,
            "trained_at": self.trained_at,
            "metrics": {k: self.metrics.get(k) for k in ("auc", "logloss", "gauc", "parameters")},
            "feature_versions": self.feature_versions,
            "parameters": self.model.num_parameters(),
            "batching": {
                "batches": len(self.batch_sizes),
                "max_batch_size": max(self.batch_sizes, default=0),
                "recent_batch_sizes": self.batch_sizes[-50:],
            },
        }


class AppArgs(BaseModel):
    run: str
    lake: str


def app_builder(args: dict) -> serve.Application:
    """Typed builder for `serve run` / `serve deploy` (args: run, lake). Builds the run's retrieval
    index first if it is missing or stale (offline: replicas only load it)."""
    from ray_apps.serve.retrieval import ensure_index

    a = AppArgs(**args)
    run, lake = str(Path(a.run).resolve()), str(Path(a.lake).resolve())
    ensure_index(run, lake)
    return Ranker.bind(run, lake)  # type: ignore[attr-defined]  # @serve.deployment adds .bind


def start(
    run: str, lake: str, port: int = 8000, address: str | None = None, blocking: bool = False, access_log: bool = False
) -> str:
    """Start Serve on 127.0.0.1:port with the ranker app; -> its base URL.

    Per-request access-log lines are off unless `access_log`: on a small machine writing and
    forwarding one log line per request costs a visible share of the CPU the replica needs.
    """
    from ray_apps.runtime import init_ray, quiet_libraries

    init_ray(address)
    quiet_libraries()  # Ray Serve's logger exists once serve is imported
    logs = {"enable_access_log": access_log}
    serve.start(http_options={"host": "127.0.0.1", "port": port}, logging_config=logs)  # the proxy's own access log too
    serve.run(
        app_builder({"run": run, "lake": lake}), name="umair", route_prefix="/", blocking=blocking, logging_config=logs
    )
    return f"http://127.0.0.1:{port}"


@dataclass
class ServeOptions:
    run: str = setting(help="a run folder written by `umair train` (has model.safetensors)")
    lake: str = setting(help="the lake the run was trained on (feature tables, item vectors)")
    port: int = setting(8000, "HTTP port on 127.0.0.1")
    access_log: bool = setting(False, "log one line per request (off by default: it costs CPU per request)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Serve a trained ranker over HTTP (Ray Serve).")
    add_config_flags(p, ServeOptions)
    add_config_file_flag(p, "serve")
    add_address_flag(p)
    return p


def main(argv: list[str] | None = None) -> int:
    from ray_apps.runtime import setup_console

    a = build_parser().parse_args(argv)
    setup_console()
    o = config_from_args(ServeOptions, a, "serve")
    url = start(o.run, o.lake, o.port, a.address, access_log=o.access_log)
    rank = '{"user_id": "1000001", "illust_ids": ["80000010", "80000020"]}'
    json_header = "-H 'content-type: application/json'"
    print(
        f"Serving {o.run} at {url} (Ctrl-C stops). Try:\n"
        f"  curl -s {url}/healthz\n"
        f"  curl -s -X POST {url}/v1/rank {json_header} -d '{rank}'\n"
        f"""  curl -s -X POST {url}/v1/recommend {json_header} -d '{{"user_id": "1000001", "k": 5}}'"""
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        serve.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
