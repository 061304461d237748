"""Reading the lake from the Ray side: Delta tables, row counts, vocabulary sizes, and the facts the
preprocessing run recorded (tag lengths, split dates), so no consumer copies them as constants."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ray_apps import storage


def read_table(path: str | Path, columns: list[str] | None = None) -> pa.Table:
    """A Delta table's current version as Arrow (small tables: vocab, items, item_features)."""
    from deltalake import DeltaTable

    return DeltaTable(str(path)).to_pyarrow_table(columns=columns)


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
