"""A training run's Prometheus metrics, through Ray's metrics pipeline like the endpoint's
(ray_apps.metrics): each Ray Train worker records its own, labelled with the run's name, the model and
the worker's rank (bounded: one set per run). deploy/observability/grafana-dashboard.json charts them.

    umair_train_samples_per_second{run,model,rank}   gauge: this epoch's training samples/s so far
    umair_train_loss{run,model,rank}                 gauge: the loss over the recent steps
    umair_train_samples_total{run,model,rank}        counter: training samples seen
    umair_train_epoch{run,model,rank}                gauge: the epoch in progress (1-based)
    umair_valid_auc{run,model,rank} / umair_valid_logloss{run,model,rank}   gauges: the last validation
"""

from __future__ import annotations

from ray_apps.metrics import KeptGauges

EXPORTED = {
    "umair_train_samples_per_second": "gauge",
    "umair_train_loss": "gauge",
    "umair_train_samples_total": "counter",
    "umair_train_epoch": "gauge",
    "umair_valid_auc": "gauge",
    "umair_valid_logloss": "gauge",
}
TAGS = ("run", "model", "rank")


class TrainMetrics:
    """One worker's metric objects (created inside the worker: Ray registers them with its process)."""

    def __init__(self, run: str, model: str, rank: int) -> None:
        from ray.util.metrics import Counter, Gauge

        self.tags = {"run": run, "model": model, "rank": str(rank)}
        gauge = {name: Gauge(name, description=name.replace("_", " "), tag_keys=TAGS) for name in EXPORTED}
        self.samples_per_s, self.loss = gauge["umair_train_samples_per_second"], gauge["umair_train_loss"]
        self.epoch_gauge, self.valid_auc = gauge["umair_train_epoch"], gauge["umair_valid_auc"]
        self.valid_logloss = gauge["umair_valid_logloss"]
        self.samples = Counter("umair_train_samples", description="training samples seen", tag_keys=TAGS)
        self.kept = KeptGauges()
        self.counted = 0

    def epoch(self, epoch: int) -> None:
        self.kept.set(self.epoch_gauge, epoch, self.tags)

    def step(self, samples: int, samples_per_s: float, loss: float) -> None:
        """`samples`: this epoch's samples so far on this worker."""
        self.kept.set(self.samples_per_s, samples_per_s, self.tags)
        self.kept.set(self.loss, loss, self.tags)
        if samples > self.counted:
            self.samples.inc(samples - self.counted, tags=self.tags)
        self.counted = samples

    def validated(self, auc: float, logloss: float) -> None:
        self.kept.set(self.valid_auc, auc, self.tags)
        self.kept.set(self.valid_logloss, logloss, self.tags)
