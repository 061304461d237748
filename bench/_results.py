"""Shared by the benchmarks: print a result and write it as JSON."""
from __future__ import annotations

import json
from pathlib import Path


def save_result(result: dict, out: str | Path) -> None:
    print(json.dumps(result, indent=2))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
