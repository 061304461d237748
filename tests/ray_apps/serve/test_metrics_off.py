"""UMAIR_SERVE_METRICS=off: the replica records nothing, through the same calls (no Ray needed)."""

from __future__ import annotations

import pytest

from ray_apps.serve import metrics


def test_metrics_off_answers_every_recording_call_with_nothing(monkeypatch):
    monkeypatch.setenv(metrics.METRICS_ENV, "off")
    monkeypatch.setattr(metrics, "_REPLICA", None)
    off = metrics.replica_metrics()
    assert isinstance(off, metrics.MetricsOff) and metrics.replica_metrics() is off
    assert off.answered("/v1/rank", 200, 0.01) is None
    assert off.ranked_request(True, [True, False], [0.1, 0.2], 0.001) is None
    assert off.serving("run", "umair_fps", "2026-12-05") is None and off.drift(0.3) is None
    with pytest.raises(AttributeError):
        off.no_such_metric(1)  # a typo is still an error, not a silent no-op
