"""Ray Serve: the ranking endpoint for product services.

    umair serve --run RUNS/umair_fps --lake LAKE [--port 8000]
    serve deploy deploy/serve_config.yaml          (import path ray_apps.serve_app:app_builder)

HTTP JSON API (OpenAPI schema at /docs and /openapi.json):
  POST /v1/rank       {"user_id": "1000001", "illust_ids": ["80000001", ...], "ts": optional ISO time}
                      -> {"user_id", "known_user", "results": [{"illust_id", "score", "known"}, ...] sorted}
  POST /v1/recommend  {"user_id": "1000001", "k": 10, "exclude_seen": true}
                      -> top-k from candidates = popular items + nearest neighbours (item vectors)
                         of the user's recent bookmarks, ranked by the model
  GET  /healthz       -> {"status": "ok"}
  GET  /v1/model      -> model name, run, trained-at, metrics, feature versions, batching stats
Cold start: unknown users and illustrations are scored with out-of-vocabulary inputs (known=false),
never an error. Bad requests get 4xx with a message (422 validation, 413 body too large);
overload answers 503 (bounded queue) instead of piling up.
"""

import argparse
import json
import os
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from ray import serve

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
        from ray_apps.ranker_data import DatasetConfig, load_item_vectors
        from ray_apps.serving_features import FeatureStore
        from ray_apps.train_ranker import load_trained

        torch.set_num_threads(1)
        self.run, self.lake = Path(run), Path(lake)
        self.model, self.spec, saved = load_trained(run)
        self.vectors = {}
        dataset = DatasetConfig.for_lake(lake, multimodal=bool(self.model.lookups))
        if self.model.lookups and dataset.item_features:
            self.vectors = load_item_vectors(dataset.item_features)
            for name, (v, p) in self.vectors.items():
                self.model.load_pretrained(name, torch.from_numpy(v), torch.from_numpy(p))
        max_lens = {f.name: f.max_len for f in self.spec.of_kind("multi_categorical")}
        self.store = FeatureStore(lake, self.spec.input_columns(), max_lens)
        self.metrics = json.loads((self.run / "metrics.json").read_text()) if (self.run / "metrics.json").exists() else {}
        self.trained_at = datetime.fromtimestamp((self.run / "model.pt").stat().st_mtime).isoformat()
        self.batch_sizes: list[int] = []
        self._build_retrieval()

    def _build_retrieval(self) -> None:
        from ray_apps.common import read_table

        train = read_table(self.lake / "interactions_train", ["user_id", "item_idx", "label", "ts"]).to_pandas()
        counts = train.groupby("item_idx").size().sort_values(ascending=False)
        self.popular = [int(i) for i in counts.index[:200]]
        positives = train[train.label == 1].sort_values("ts")
        self.recent = positives.groupby("user_id")["item_idx"].apply(lambda s: [int(x) for x in s.tail(5)]).to_dict()
        self.seen = train.groupby("user_id")["item_idx"].apply(set).to_dict()
        parts = [self.vectors[m][0].astype(np.float32) for m in ("e_tsem", "e_sty") if m in self.vectors]
        if parts:
            v = np.concatenate([p / (np.linalg.norm(p, axis=1, keepdims=True) + 1e-9) for p in parts], 1)
            self.neighbour_space = (v / (np.linalg.norm(v, axis=1, keepdims=True) + 1e-9)).astype(np.float16)
        else:
            self.neighbour_space = None

    @serve.batch(max_batch_size=BATCH_SIZE, batch_wait_timeout_s=BATCH_WAIT_S)
    async def _score(self, requests: list[dict[str, np.ndarray]]) -> list[np.ndarray]:
        """Concatenate the candidates of concurrent requests into one forward pass."""
        self.batch_sizes.append(len(requests))
        sizes = [len(next(iter(r.values()))) for r in requests]
        batch = {k: torch.from_numpy(np.concatenate([r[k] for r in requests])) for k in requests[0]}
        with torch.inference_mode():
            probs = torch.sigmoid(self.model(batch)).numpy()
        return list(np.split(probs, np.cumsum(sizes)[:-1]))

    async def _rank(self, user_id: str, illust_ids: list[str], ts: datetime | None, k: int | None = None) -> JSONResponse:
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
        candidates = list(self.popular)
        recent = self.recent.get(body.user_id, [])
        if recent and self.neighbour_space is not None:
            query = self.neighbour_space[recent].astype(np.float32).mean(0)
            sims = self.neighbour_space.astype(np.float32) @ query
            candidates += [int(i) for i in np.argsort(-sims)[:100] if i > 0]
        seen = self.seen.get(body.user_id, set()) if body.exclude_seen else set()
        ids = [self.store.illust_by_idx[i] for i in dict.fromkeys(candidates) if i not in seen and i in self.store.illust_by_idx]
        return await self._rank(body.user_id, ids, None, body.k)

    @api.get("/healthz")
    async def healthz(self) -> dict:
        return {"status": "ok"}

    @api.get("/v1/model")
    async def model_info(self) -> dict:
        saved_cfg = json.loads((self.run / "config.json").read_text()) if (self.run / "config.json").exists() else {}
        features = {}
        if (self.lake / "item_features" / "_delta_log").exists():
            from ray_apps.common import read_table

            t = read_table(self.lake / "item_features", ["image_encoder", "text_encoder"]).slice(0, 1).to_pylist()
            features = t[0] if t else {}
        return {"model": saved_cfg.get("model"), "variant": saved_cfg.get("variant"), "run": self.run.name,
                "trained_at": self.trained_at, "metrics": {k: self.metrics.get(k) for k in ("auc", "logloss", "gauc", "parameters")},
                "feature_versions": features, "parameters": self.model.num_parameters(),
                "batching": {"batches": len(self.batch_sizes), "max_batch_size": max(self.batch_sizes, default=0),
                             "recent_batch_sizes": self.batch_sizes[-50:]}}


class AppArgs(BaseModel):
    run: str
    lake: str


def app_builder(args: dict) -> serve.Application:
    """Typed builder for `serve run` / `serve deploy` (args: run, lake)."""
    a = AppArgs(**args)
    return Ranker.bind(str(Path(a.run).resolve()), str(Path(a.lake).resolve()))


def start(run: str, lake: str, port: int = 8000, address: str | None = None, blocking: bool = False,
          access_log: bool = False) -> str:
    """Start Serve on 127.0.0.1:port with the ranker app; -> its base URL.

    Per-request access-log lines are off unless `access_log`: on a small machine writing and
    forwarding one log line per request costs a visible share of the CPU the replica needs.
    """
    from ray_apps.common import init_ray

    init_ray(address)
    logs = {"enable_access_log": access_log}
    serve.start(http_options={"host": "127.0.0.1", "port": port}, logging_config=logs)  # the proxy's own access log too
    serve.run(app_builder({"run": run, "lake": lake}), name="umair", route_prefix="/", blocking=blocking, logging_config=logs)
    return f"http://127.0.0.1:{port}"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Serve a trained ranker over HTTP (Ray Serve).")
    p.add_argument("--run", required=True, help="a run folder written by `umair train` (has model.pt)")
    p.add_argument("--lake", required=True)
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--address", default=None)
    p.add_argument("--access-log", action="store_true", help="log one line per request (off by default: it costs CPU per request)")
    return p


def main(argv: list[str] | None = None) -> int:
    from ray_apps.common import setup_logging

    setup_logging()
    a = build_parser().parse_args(argv)
    url = start(a.run, a.lake, a.port, a.address, access_log=a.access_log)
    print(f"Serving {a.run} at {url} (Ctrl-C stops). Try:\n"
          f"  curl -s {url}/healthz\n"
          f"  curl -s -X POST {url}/v1/rank -H 'content-type: application/json' -d '{{\"user_id\": \"1000001\", \"illust_ids\": [\"80000010\", \"80000020\"]}}'\n"
          f"  curl -s -X POST {url}/v1/recommend -H 'content-type: application/json' -d '{{\"user_id\": \"1000001\", \"k\": 5}}'")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        serve.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
