"""Per-stage wall time and rows of a Spark job: one log line per stage, kept for the run record."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field


@dataclass
class Stages:
    """Wall time and rows per stage, for the printed summary and the benchmark."""

    log: logging.Logger
    seconds: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    _t: float = field(default_factory=time.time)

    def done(self, name: str, rows: int | None = None) -> None:
        now = time.time()
        self.seconds[name] = round(now - self._t, 2)
        if rows is not None:
            self.rows[name] = rows
        self._t = now
        self.log.info("stage %-14s %7.1f s%s", name, self.seconds[name], f"  {rows:,} rows" if rows is not None else "")
