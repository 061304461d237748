"""Registered copies of the session's trained runs in a fresh runs folder, so each test owns its registry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def recorded_copy(runs: Path, source: Path, name: str) -> str:
    """Copy a trained run folder into RUNS/NAME and record it in RUNS's MLflow store; -> the folder."""
    from ray_apps.lifecycle import registry

    target = runs / name
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(registry.RECORD_FILE, "gate.json"))
    record = {**json.loads((target / "metrics.json").read_text()), "run": name}
    assert registry.record_run(runs, str(target), record) is not None
    return str(target)
