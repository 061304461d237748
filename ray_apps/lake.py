"""Reading the lake from the Ray side: Delta tables, row counts, vocabulary sizes, and the facts the
preprocessing run recorded (tag lengths, split dates), so no consumer copies them as constants."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from umair_models import storage


def read_table(path: str | Path, columns: list[str] | None = None, version: int | None = None) -> pa.Table:
    """A Delta table's current version (or `version`) as Arrow: delta-rs lists the version's live files,
    pyarrow's own filesystem reads them.

    Every read of the lake into Arrow goes through here. `DeltaTable.to_pyarrow_table()` reads the
    files through a Python filesystem wrapping delta-rs's Rust object store; pyarrow's I/O threads
    call into it, and a process that did so aborted at exit ("terminate called without an active
    exception", status 134) in about 1 run of 5 on our machines (deltalake 1.6.6, pyarrow 26.0.1),
    after printing its result. Handing `to_pyarrow_dataset` pyarrow's local or S3 filesystem, rooted
    at the table, keeps delta-rs to the log (file list, partition values, schema) and never
    aborted (tests/ray_apps/test_lake.py runs a fresh interpreter 20 times).
    """
    import pyarrow.fs as pafs
    from deltalake import DeltaTable

    fs, root = storage.filesystem(path)
    table = DeltaTable(storage.absolute(path), version=version)
    return table.to_pyarrow_dataset(filesystem=pafs.SubTreeFileSystem(root, fs)).to_table(columns=columns)


def table_rows(path: str | Path) -> int | None:
    """A Delta table's row count from its log's file statistics (no data read); None without them."""
    from deltalake import DeltaTable

    records = pa.table(DeltaTable(str(path)).get_add_actions(flatten=True)).column("num_records")
    return None if records.null_count else int(pc.sum(records).as_py() or 0)


def vocab_sizes(lake: str | Path) -> dict[str, int]:
    """feature -> number of values V in the lake's vocab (indices 1..V)."""
    vocab = read_table(storage.join(lake, "vocab"), ["feature", "index"]).to_pandas()
    return {k: int(v) for k, v in vocab.groupby("feature")["index"].max().items()}


@dataclass(frozen=True)
class LakeFacts:
    """What the latest preprocessing run of a lake was configured with (its `runs` record)."""

    max_item_tags: int
    max_interest_tags: int
    train_start: str
    valid_start: str
    test_start: str
    test_end: str

    @property
    def max_lens(self) -> dict[str, int]:
        """Padded list length of each multi-valued interaction column."""
        return {"tags_idx": self.max_item_tags, "interest_tags_idx": self.max_interest_tags}


def lake_facts(lake: str | Path) -> LakeFacts:
    """The lake's run record (LAKE/runs, newest row) as LakeFacts; a clear error without one."""
    path = storage.join(lake, "runs")
    if not storage.is_delta_table(path):
        raise FileNotFoundError(f"{path}: no preprocessing run record; build the lake with `umair prep` first")
    runs = read_table(path, ["finished_at", "config", "time_ranges"]).to_pylist()
    newest = max(runs, key=lambda r: r["finished_at"])
    config, ranges = json.loads(newest["config"]), json.loads(newest["time_ranges"])
    return LakeFacts(
        max_item_tags=int(config["max_item_tags"]),
        max_interest_tags=int(config["max_interest_tags"]),
        train_start=ranges["train"][0],
        valid_start=ranges["valid"][0],
        test_start=ranges["test"][0],
        test_end=ranges["test"][1],
    )
