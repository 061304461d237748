"""Reading what Ray exports on the local node's metrics port, for the tests of our Prometheus metrics."""

from __future__ import annotations

import time
from collections import Counter

import requests
from prometheus_client.parser import text_string_to_metric_families

from ray_apps.metrics import PREFIX

# How often Ray's processes push what they recorded to the node's metrics port, in the test session's Ray
# (tests/conftest.py `ray_local`; Ray's default is 10 s). Measured 2026-12-06: a counter increment
# appears on the port 1.6-2.1 s after it was recorded.
REPORT_INTERVAL_S = 2.0


def scrape() -> dict[tuple[str, frozenset], float]:
    """{(sample name without Ray's prefix, our labels): value summed over replicas and workers}."""
    import ray

    port = ray._private.worker._global_node.metrics_export_port
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    ray_labels = {"Component", "NodeAddress", "SessionName", "Version", "WorkerId", "ReplicaId", "JobId"}
    out: Counter = Counter()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith(PREFIX + "umair_"):
                labels = frozenset(
                    (k, v) for k, v in s.labels.items() if k not in ray_labels and not k.startswith("otel")
                )
                out[(s.name.removeprefix(PREFIX), labels)] += s.value
    return dict(out)


def value(metrics: dict, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in metrics.items() if n == name and set(labels.items()) <= set(ls))


def wait_for(check, timeout_s: float = 60.0):
    """Ray exports what replicas record every few seconds: poll until `check(scrape())` holds."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = scrape()
        if check(got) or time.monotonic() > deadline:
            return got
        time.sleep(1)


def settled(timeout_s: float = 90.0) -> dict:
    """A scrape that no longer changes over more than two of Ray's report intervals."""
    deadline, last = time.monotonic() + timeout_s, scrape()
    while time.monotonic() < deadline:
        time.sleep(2.5 * REPORT_INTERVAL_S)
        now = scrape()
        if now == last:
            return now
        last = now
    raise AssertionError("the endpoint's metrics kept changing with no traffic")
