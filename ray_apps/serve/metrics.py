"""The endpoint's Prometheus metrics, through Ray's own metrics pipeline (`ray.util.metrics`).

Each replica records them; Ray exports them with its built-in metrics on every node's metrics port
(`ray start --metrics-export-port`, 8080 on KubeRay; deploy/observability/ has the scrape set-up and
the Grafana dashboard). Ray adds the prefix `ray_` and its own labels (node, worker, session).

Labels are bounded sets only, never request content: `route` is one of ROUTES or "other", `status`
an HTTP status code, the version gauge's labels the served run's name, model and training time.

    umair_http_requests_total{route,status}          counter: every answered request, refusals included
    umair_http_request_seconds{route}                histogram: in the replica, from the first byte to the answer
    umair_feature_lookup_seconds                     histogram: online features of one rank request
    umair_model_step_seconds                         histogram: one batched forward pass
    umair_batch_size                                 histogram: requests per forward pass
    umair_ranked_items_total / umair_unknown_items_total   counters: illustrations scored, of them unknown
    umair_rank_requests_total / umair_unknown_users_total  counters: rank requests, of them for unknown users
    umair_score                                      histogram: the scores served
    umair_model_info{run,model,trained_at}           gauge: 1 for the run this replica serves, 0 once swapped out
    umair_score_psi                                  gauge: PSI of the served scores against the run's offline
                                                     test predictions (ray_apps.serve.drift; page above 0.25)
"""

from __future__ import annotations

import os
import time
from typing import Any

from ray_apps.metrics import KeptGauges
from ray_apps.serve.guard import app_path
from ray_apps.serve.schemas import ROUTES

LATENCY_BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]
BATCH_BOUNDS = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
SCORE_BOUNDS = [0.05 * i for i in range(1, 20)]
# name -> kind, for the dashboard test: every metric the code exports (Prometheus names before Ray's prefix)
EXPORTED = {
    "umair_http_requests_total": "counter",
    "umair_http_request_seconds": "histogram",
    "umair_feature_lookup_seconds": "histogram",
    "umair_model_step_seconds": "histogram",
    "umair_batch_size": "histogram",
    "umair_ranked_items_total": "counter",
    "umair_unknown_items_total": "counter",
    "umair_rank_requests_total": "counter",
    "umair_unknown_users_total": "counter",
    "umair_score": "histogram",
    "umair_model_info": "gauge",
    "umair_score_psi": "gauge",
}


def route_label(path: str) -> str:
    """A bounded label for a request path (anything else, e.g. a scanner's guesses, is 'other')."""
    return path if path in ROUTES else "other"


class ServeMetrics:
    """The metric objects of one replica (created inside it: Ray registers them with its process)."""

    def __init__(self) -> None:
        from ray.util.metrics import Counter, Gauge, Histogram

        def counter(name: str, text: str, tags: tuple[str, ...] = ()) -> Counter:
            return Counter(name.removesuffix("_total"), description=text, tag_keys=tags)

        self.requests = counter(
            "umair_http_requests_total", "answered requests by route and status", ("route", "status")
        )
        self.latency = Histogram(
            "umair_http_request_seconds", description="request time in the replica", boundaries=LATENCY_BOUNDS,
            tag_keys=("route",),
        )  # fmt: skip
        self.lookup = Histogram(
            "umair_feature_lookup_seconds", description="online features", boundaries=LATENCY_BOUNDS
        )
        self.model_step = Histogram("umair_model_step_seconds", description="forward pass", boundaries=LATENCY_BOUNDS)
        self.batch = Histogram("umair_batch_size", description="requests per forward pass", boundaries=BATCH_BOUNDS)
        self.ranked = counter("umair_ranked_items_total", "illustrations scored")
        self.unknown_items = counter("umair_unknown_items_total", "illustrations scored that the run does not know")
        self.rank_requests = counter("umair_rank_requests_total", "rank and recommend requests")
        self.unknown_users = counter("umair_unknown_users_total", "requests for users the run does not know")
        self.score = Histogram("umair_score", description="scores served", boundaries=SCORE_BOUNDS)
        self.info = Gauge(
            "umair_model_info", description="1 for the served run", tag_keys=("run", "model", "trained_at")
        )
        self.psi = Gauge("umair_score_psi", description="PSI of served scores vs the run's offline test predictions")
        self._info_tags: dict[str, str] | None = None
        self._set = KeptGauges().set  # the version and PSI gauges stay exported while they hold

    def serving(self, run: str, model: str, trained_at: str) -> None:
        """The version gauge: the new run's series to 1, the previous run's to 0 (one consistent version)."""
        tags = {"run": run, "model": model or "", "trained_at": trained_at or ""}
        if self._info_tags and self._info_tags != tags:
            self._set(self.info, 0, self._info_tags)
        self._set(self.info, 1, tags)
        self._info_tags = tags

    def answered(self, path: str, status: int, seconds: float) -> None:
        route = route_label(path)
        self.requests.inc(1, tags={"route": route, "status": str(status)})
        self.latency.observe(seconds, tags={"route": route})

    def ranked_request(self, known_user: bool, known: list[bool], scores: list[float], lookup_s: float) -> None:
        self.rank_requests.inc(1)
        if not known_user:
            self.unknown_users.inc(1)
        if known:
            self.ranked.inc(len(known))
            unknown = len(known) - sum(known)
            if unknown:
                self.unknown_items.inc(unknown)
        for s in scores:
            self.score.observe(s)
        self.lookup.observe(lookup_s)

    def drift(self, psi: float | None) -> None:
        if psi is not None:
            self._set(self.psi, psi)

    def forward_pass(self, requests: int, seconds: float) -> None:
        self.batch.observe(requests)
        self.model_step.observe(seconds)


METRICS_ENV = "UMAIR_SERVE_METRICS"  # "off": record nothing (a team without Prometheus; the cost bench's baseline)


class MetricsOff:
    """What a replica records with UMAIR_SERVE_METRICS=off: every ServeMetrics call, doing nothing."""

    def __getattr__(self, name: str) -> Any:
        if not hasattr(ServeMetrics, name):
            raise AttributeError(name)
        return lambda *args, **kwargs: None


_REPLICA: ServeMetrics | MetricsOff | None = None


def replica_metrics() -> ServeMetrics | MetricsOff:
    """This process's metrics (one replica per process), created on first use inside the replica."""
    global _REPLICA
    if _REPLICA is None:
        _REPLICA = MetricsOff() if os.environ.get(METRICS_ENV, "on").lower() == "off" else ServeMetrics()
    return _REPLICA


class MetricsMiddleware:
    """Pure ASGI, outermost: counts every answer (the guard's refusals too) by route and status, and times it."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics = replica_metrics()
        start, status = time.perf_counter(), [500]

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            metrics.answered(app_path(scope), status[0], time.perf_counter() - start)
