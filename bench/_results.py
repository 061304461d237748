"""Shared by the benchmarks: print a result and write it as JSON."""

from __future__ import annotations

import json
from pathlib import Path


def save_result(result: dict, out: str | Path) -> None:
    print(json.dumps(result, indent=2))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


class PeakTreeMemory:
    """Samples the resident memory of this process and all its descendants (e.g. the Spark driver JVM)
    every `interval` seconds on a daemon thread; `peak_gb` is the largest sum seen.

        with PeakTreeMemory() as mem:
            work()
        print(mem.peak_gb)
    """

    def __init__(self, interval: float = 1.0):
        self.interval, self.peak_bytes = interval, 0
        self._stop = None

    @staticmethod
    def _sample() -> int:
        """Sum of RSS over this process and its descendants, read from /proc (Linux)."""
        import os

        parents, rss = {}, {}
        page = os.sysconf("SC_PAGE_SIZE")
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{entry}/statm") as f:
                    rss[int(entry)] = int(f.read().split()[1]) * page
            except (OSError, ValueError, IndexError):
                continue
        tree, grew = {os.getpid()}, True
        while grew:
            more = {pid for pid, parent in parents.items() if parent in tree} - tree
            tree |= more
            grew = bool(more)
        return sum(rss.get(pid, 0) for pid in tree)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_bytes = max(self.peak_bytes, self._sample())

    def __enter__(self) -> PeakTreeMemory:
        import threading

        self._stop = threading.Event()
        self.peak_bytes = self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_gb(self) -> float:
        return round(self.peak_bytes / 2**30, 2)
