"""The console is for people: each app prints its own progress lines (stage, run, epoch, metric) and
where its outputs went. Library log records (Ray, Ray Data, Ray Train, py4j, ...) go to
LOG_DIR/umair.log (`setup_console` says where). Training workers report progress by appending to a
file the driver echoes (`ProgressEcho`), which also works on a multi-node cluster whose run folder is
shared storage.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from umair_models import storage

log = logging.getLogger("umair")
LOG_DIR_ENV = "UMAIR_LOG_DIR"
_LIBRARY_LOGGERS = (
    "ray",
    "ray.data",
    "ray.train",
    "ray.serve",
    "ray.tune",
    "py4j",
    "pyspark",
    "urllib3",
    "filelock",
    "fsspec",
    "mlflow",
    "alembic",
)
# Library warnings that tell a user of `umair` nothing they can act on (the records stay in the log file).
_NOISE = (
    "Token authentication is enabled for this Ray cluster",  # Ray 2.60's default for a local instance
    "Progress bars disabled",  # we turned them off on purpose: the apps print their own progress
)


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in _NOISE)


def log_dir() -> Path:
    """Where library logs go: $UMAIR_LOG_DIR, else .umair/logs under the current folder."""
    return Path(os.environ.get(LOG_DIR_ENV) or Path(".umair", "logs")).resolve()


def setup_console(directory: str | Path | None = None, announce: bool = True) -> Path:
    """Our own `umair` log lines on the console; every library's records in DIRECTORY/umair.log.

    Idempotent. Library loggers that install their own console handlers (Ray's, Ray Data's) keep
    them for warnings and errors only; their INFO chatter goes to the file.
    """
    folder = Path(directory).resolve() if directory else log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[LOG_DIR_ENV] = str(folder)  # child processes (Spark's JVM, Ray's driver helpers) log there too
    # Hugging Face libraries print weight-loading bars and advisory warnings on their own handlers; Ray's
    # workers inherit these variables, so the encoder jobs stay quiet there too.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    path = folder / "umair.log"
    root = logging.getLogger()
    if not any(getattr(h, "baseFilename", None) == str(path) for h in root.handlers):
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        for name in _LIBRARY_LOGGERS:
            _quiet(logging.getLogger(name), handler)
    if not any(getattr(h, "umair_console", False) for h in log.handlers):
        console = logging.StreamHandler()
        console.setFormatter(logging.Formatter("[umair] %(message)s"))
        console.umair_console = True  # type: ignore[attr-defined]
        log.addHandler(console)
        log.setLevel(logging.INFO)
        log.propagate = True  # also in the file
        if announce:
            print(f"[umair] library logs: {path}", flush=True)
    return path


def _quiet(logger: logging.Logger, file_handler: logging.Handler) -> None:
    """A library logger: its console handlers show warnings and up (less known noise); everything goes to the file."""
    for h in logger.handlers:
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
            h.setLevel(logging.WARNING)
            if not any(isinstance(f, _DropNoise) for f in h.filters):
                h.addFilter(_DropNoise())
    if not logger.propagate and file_handler not in logger.handlers:
        logger.addHandler(file_handler)


def quiet_libraries() -> None:
    """Apply `_quiet` to the library loggers that exist now (Ray, Ray Data and Ray Serve install their
    console handlers when first imported, so the apps call this after importing them)."""
    file_handler = next((h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)), None)
    if file_handler is not None:
        for name in _LIBRARY_LOGGERS:
            _quiet(logging.getLogger(name), file_handler)


def progress_file(folder: str | Path, name: str) -> Path:
    """Where a run's progress lines go: FOLDER/NAME, or the log folder when FOLDER is on object storage
    (the driver tails the file, so it must be a file on disk)."""
    return Path(storage.absolute(folder), name) if not storage.is_remote(folder) else log_dir() / name


def progress_line(path: str | Path | None, line: str) -> None:
    """A training worker's progress line: appended to `path` (echoed by the driver's ProgressEcho)."""
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line.rstrip("\n") + "\n")


class ProgressEcho:
    """Driver side of `progress_line`: prints the lines workers append to a file, as they come.

    with ProgressEcho(run_dir / "progress.log"): trainer.fit()
    """

    def __init__(self, path: str | Path, interval_s: float = 1.0) -> None:
        self.path, self.interval_s = Path(path), interval_s
        self._stop = threading.Event()
        self._offset = 0
        self._thread = threading.Thread(target=self._loop, name=f"progress-{self.path.parent.name}", daemon=True)

    def __enter__(self) -> ProgressEcho:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._echo()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._echo()

    def _echo(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        if complete:
            print(complete.decode("utf-8", "replace"), end="", flush=True)
