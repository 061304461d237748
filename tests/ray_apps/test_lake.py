"""ray_apps.lake.read_table: the one way the project reads a Delta table into Arrow."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
from deltalake import write_deltalake

from ray_apps.lake import read_table


def _table(start: int, n: int) -> pa.Table:
    ids = np.arange(start, start + n)
    return pa.table({"id": ids, "month": (ids % 3).astype(str), "x": ids * 0.5})


def test_reads_the_live_files_of_a_version_with_partition_values(tmp_path):
    path = str(tmp_path / "t")
    write_deltalake(path, _table(0, 30), partition_by=["month"])
    write_deltalake(path, _table(100, 6), partition_by=["month"], mode="overwrite")  # the first files stay on disk
    now = read_table(path)
    assert sorted(now.column("id").to_pylist()) == list(range(100, 106))
    assert sorted(now.column("month").to_pylist()) == sorted(str(i % 3) for i in range(100, 106))  # from the log
    assert read_table(path, ["x"]).column_names == ["x"]
    assert sorted(read_table(path, version=0).column("id").to_pylist()) == list(range(30))


READ_AND_EXIT = """
import sys
from ray_apps.lake import read_table
print(read_table(sys.argv[1]).num_rows)
"""


def test_a_fresh_interpreter_that_read_a_table_exits_cleanly_every_time(tmp_path):
    """deltalake's own to_pyarrow_table() aborted such a process at exit (status 134) in 1 of 5 runs."""
    path = str(tmp_path / "t")
    for start in range(0, 300_000, 100_000):
        write_deltalake(path, _table(start, 100_000), mode="append")

    def run(_: int) -> tuple[int, str]:
        done = subprocess.run([sys.executable, "-c", READ_AND_EXIT, path], capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout.strip() + done.stderr[-300:]

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run, range(20)))
    assert results == [(0, "300000")] * 20
