"""One lifecycle step at a time per runs folder: RUNS/lifecycle.lock, created exclusively.

A promotion, a rollback or a cycle holds it; a second one is refused with who holds it and since when.
A lock left by a process that died on this machine is taken over (said on the console); one held from
another machine is never broken automatically: the message says which file to delete once it is gone.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("umair.lifecycle")
LOCK_FILE = "lifecycle.lock"


class LockHeldError(RuntimeError):
    """Another lifecycle step holds RUNS/lifecycle.lock."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


@contextmanager
def lifecycle_lock(runs: str | Path, what: str) -> Iterator[None]:
    """Hold RUNS/lifecycle.lock while the block runs; LockHeldError when someone else holds it."""
    path = Path(runs, LOCK_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    me = {
        "what": what,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            held = _holder(path)
            if held.get("host") == me["host"] and isinstance(held.get("pid"), int) and not _alive(held["pid"]):
                log.warning("taking over %s: its holder (%s, pid %s) is gone", path, held.get("what"), held["pid"])
                path.unlink(missing_ok=True)
                continue
            raise LockHeldError(
                f"{held.get('what', 'another step')} holds {path} since {held.get('since', '?')} "
                f"(pid {held.get('pid', '?')} on {held.get('host', '?')}); try again when it ends, "
                f"or delete the file if that process is gone"
            ) from None
    else:
        raise LockHeldError(f"could not take {path}")
    with os.fdopen(fd, "w") as f:
        json.dump(me, f)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
