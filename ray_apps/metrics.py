"""Prometheus metrics through Ray's own pipeline (`ray.util.metrics`), shared by the endpoint
(ray_apps.serve.metrics) and training (ray_apps.ranker.train_metrics).

Ray exports what a process records on its node's metrics port, with the prefix `ray_` and its own
labels (node, worker, session). It stops exporting a gauge about 20 s after the gauge was last set,
so a gauge that holds a current value (the model serving, the last validation AUC) must be set
again while it holds: `KeptGauges` does that every REFRESH_S on a daemon thread.
"""

from __future__ import annotations

import threading
import time
from typing import Any

PREFIX = "ray_"  # what Ray's exporter prepends
REFRESH_S = 5.0


class KeptGauges:
    """The current value of each (gauge, tags), set again every REFRESH_S while this process lives."""

    def __init__(self) -> None:
        self._current: dict[tuple[int, tuple], tuple[Any, float, dict[str, str] | None]] = {}
        threading.Thread(target=self._keep, name="umair-gauges", daemon=True).start()

    def set(self, gauge: Any, value: float, tags: dict[str, str] | None = None) -> None:
        self._current[(id(gauge), tuple(sorted((tags or {}).items())))] = (gauge, value, tags)
        gauge.set(value, tags=tags)

    def _keep(self) -> None:
        while True:
            time.sleep(REFRESH_S)
            for gauge, value, tags in list(self._current.values()):
                gauge.set(value, tags=tags)
