"""What the ranker trains on: a dataset config (tables, label, feature columns, optional item
vectors) and the Ray Data preprocessing that turns Delta rows into fixed-shape arrays.

The same job trains on any CTR table in Delta, described by a dataset spec (`LAKE/dataset.yaml`,
written by `prep` or `featurize`; format and its one reader / writer: umair_models/dataset_spec.py).
Here a spec is resolved against its lake: `vocab: X` features sized from the lake's vocabulary,
multi-valued columns without `max_len` padded as the lake's run record says, item-vector widths read
from the item_features table `embed` wrote. Before `embed` has run, a spec without `vectors` means no
item vectors: the run's fingerprint records that, and a warning says so.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ray_apps.console import log
from ray_apps.encoders.item_features import ItemVectors, embedded_item_vectors
from ray_apps.lake import lake_facts, read_table, table_rows, vocab_sizes
from umair_models import dataset_spec, storage
from umair_models.features import FeatureSpec, FieldSpec


@dataclass
class DatasetConfig:
    tables: dict[str, str]
    spec: FeatureSpec
    user_column: str | None = None
    item_features: ItemVectors | None = None

    @property
    def label(self) -> str:
        return self.spec.label

    def array_bytes(self, split: str) -> int | None:
        """Estimated size of `split` as ToArrays output (rows from the Delta log x bytes per row); None if unknown."""
        rows = table_rows(self.tables[split])
        widths = {"categorical": 8, "index": 8, "numeric": 4}
        row = (
            sum(8 * f.max_len if f.kind == "multi_categorical" else widths.get(f.kind, 0) for f in self.spec.fields)
            + 4
            + 8
        )
        return None if rows is None else rows * row

    def fingerprint(self) -> dict[str, Any]:
        """What a trained run depends on besides its budget: each table's Delta version (splits and
        item vectors) and a hash of the feature spec. A run is reused only when this is unchanged."""
        from deltalake import DeltaTable

        def version(path: str) -> int | None:
            return DeltaTable(path).version() if storage.is_delta_table(path) else None

        spec = json.dumps(self.spec.to_dict(), sort_keys=True, default=str)
        out = {
            "tables": {split: version(path) for split, path in sorted(self.tables.items())},
            "item_features": version(self.item_features.table) if self.item_features else None,
            "spec_sha256": hashlib.sha256(spec.encode()).hexdigest(),
        }
        name = self.item_features.table.rstrip("/").rsplit("/", 1)[-1] if self.item_features else None
        if name not in (None, "item_features"):
            out["item_features_table"] = name  # another table than embed's (e.g. a control's)
        return out

    def with_item_table(self, table: str, vectors: dict[str, int] | None = None) -> DatasetConfig:
        """The same dataset with its item vectors read from another table of embed's layout (same key,
        num_items, presence column); the pretrained fields take that table's modalities and widths, or
        `vectors` (name -> width) for a table with modalities embed does not write."""
        if self.item_features is None:
            raise ValueError("this dataset has no item vectors to replace")
        current = self.item_features
        items = (
            ItemVectors(table, current.key, current.num_items, dict(vectors), current.present)
            if vectors and storage.is_delta_table(table)
            else embedded_item_vectors(table, current.key, current.num_items, current.present)
        )
        if items is None:
            raise FileNotFoundError(f"{table}: no such Delta table")
        spec = self.spec.without("pretrained")
        pretrained = [
            FieldSpec(n, "pretrained", dim=d, group="item", lookup=current.key) for n, d in items.vectors.items()
        ]
        return DatasetConfig(
            dict(self.tables),
            FeatureSpec([*spec.fields, *pretrained], spec.label, dict(spec.tables)),
            self.user_column,
            items,
        )

    @classmethod
    def from_yaml(cls, path: str | Path, lake: str | Path | None = None) -> DatasetConfig:
        """A dataset.yaml resolved against `lake` (default: the folder holding it)."""
        spec = dataset_spec.parse(storage.read_text(path), str(path))
        return cls.from_spec(spec, storage.absolute(lake or storage.parent(path)), str(path))

    @classmethod
    def from_spec(cls, spec: dataset_spec.DatasetSpec, root: str, source: str) -> DatasetConfig:
        def resolve(p: str) -> str:
            return storage.absolute(p) if storage.is_remote(p) or Path(p).is_absolute() else storage.join(root, p)

        tables = {k: resolve(v) for k, v in spec.tables.items()}  # workers elsewhere get absolute paths
        sizes = vocab_sizes(root) if spec.vocab_table else {}
        lake_lens = lake_facts(root).max_lens if storage.is_delta_table(storage.join(root, "runs")) else {}
        items = None
        if spec.item_features:
            entry = spec.item_features
            table = resolve(entry.table)
            if entry.vectors:
                items = ItemVectors(table, entry.key, entry.num_items, dict(entry.vectors), entry.present)
            else:
                items = embedded_item_vectors(table, entry.key, entry.num_items, entry.present)
                if items is None:
                    log.warning(
                        "%s: no item vectors: %s does not exist yet (umair embed --lake %s writes it)",
                        source,
                        table,
                        root,
                    )
        features = dataset_spec.feature_spec(spec, sizes, source, lake_lens, items.vectors if items else None)
        return cls(tables, features, spec.user_column, items)

    @classmethod
    def for_lake(cls, lake: str | Path, multimodal: bool = True) -> DatasetConfig:
        """The lake's own dataset.yaml (written by `prep` or `featurize`); `multimodal=False` leaves the
        item vectors out."""
        path = storage.join(storage.absolute(lake), dataset_spec.FILE_NAME)
        if not storage.exists(path):
            raise FileNotFoundError(
                f"{path}: the lake has no dataset spec; build it with `umair prep` (or `umair featurize`)"
            )
        spec = dataset_spec.parse(storage.read_text(path), path)
        if not multimodal:
            spec = spec.model_copy(update={"item_features": None})
        return cls.from_spec(spec, storage.absolute(lake), path)


def padded_lists(column: pa.Array | pa.ChunkedArray, max_len: int) -> np.ndarray:
    """A list<int> column -> int64 [n, max_len]: each list cut to max_len, padded with 0; null = empty.

    Vectorised over the Arrow offsets and values (no per-row Python), so the Ray Data transform
    stays cheap next to the training step.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.array([], column.type)
    n = len(column)
    out = np.zeros((n, max_len), np.int64)
    if n == 0:
        return out
    offsets = np.asarray(column.offsets.to_numpy(zero_copy_only=False), np.int64)
    lengths = np.minimum(np.diff(offsets), max_len)
    if column.null_count:
        lengths[np.asarray(column.is_null().to_numpy(zero_copy_only=False), bool)] = 0
    total = int(lengths.sum())
    if total:
        values = np.asarray(column.values.to_numpy(zero_copy_only=False), np.int64)
        rows = np.repeat(np.arange(n), lengths)
        pos = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        out[rows, pos] = values[offsets[:-1][rows] + pos]
    return out


def unknown_past(indices: np.ndarray, vocab_size: int) -> np.ndarray:
    """`indices` (any shape) with every index the model has no row for (>= vocab_size: a value the lake's
    vocabulary gained after the model was trained, see `umair ingest`) read as 0, unknown."""
    past = indices >= vocab_size
    return np.where(past, 0, indices) if past.any() else indices


def group_keys(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """GAUC group ids int64 [n]: integer ids as they are, anything else as a stable 64-bit hash of its text."""
    if pa.types.is_integer(column.type):
        return np.asarray(column.to_numpy(zero_copy_only=False), np.int64)
    text = pc.cast(column, pa.string()).to_numpy(zero_copy_only=False)
    return pd.util.hash_array(text.astype(object)).astype(np.int64)


class ToArrays:
    """Ray Data map_batches fn (Arrow table in, numpy out): the spec's columns as fixed-shape arrays.

    categorical / index -> int64 [B]; multi_categorical -> int64 [B, L] (padded / cut to L); an index past
    the spec's vocab_size (newer than the model) -> 0;
    numeric -> float32 [B]; label -> float32 [B]; `gauc_key` -> int64 [B] (the user column as a
    group id, see `group_keys`; the row number without one). Also accepts a pandas DataFrame.
    """

    def __init__(self, spec: FeatureSpec, user_column: str | None) -> None:
        self.spec, self.user_column = spec, user_column

    def __call__(self, batch: pa.Table | pd.DataFrame) -> dict[str, np.ndarray]:
        table = pa.Table.from_pandas(batch, preserve_index=False) if isinstance(batch, pd.DataFrame) else batch

        def as_numpy(name: str, dtype: Any) -> np.ndarray:
            return np.asarray(table.column(name).to_numpy(), dtype)

        out: dict[str, np.ndarray] = {}
        for f in self.spec.fields:
            if f.kind in ("categorical", "index"):
                out[f.name] = unknown_past(as_numpy(f.name, np.int64), f.vocab_size)
            elif f.kind == "multi_categorical":
                out[f.name] = unknown_past(padded_lists(table.column(f.name), f.max_len), f.vocab_size)
            elif f.kind == "numeric":
                out[f.name] = as_numpy(f.name, np.float32)
        out["label"] = as_numpy(self.spec.label, np.float32)
        out["gauc_key"] = (
            group_keys(table.column(self.user_column))
            if self.user_column
            else np.arange(table.num_rows, dtype=np.int64)
        )
        return out

    def columns(self) -> list[str]:
        return (
            [c for c in self.spec.input_columns()]
            + [self.spec.label]
            + ([self.user_column] if self.user_column else [])
        )


def split_arrays(dataset: DatasetConfig, split: str) -> dict[str, np.ndarray]:
    """One split's Delta table as the model's fixed-shape arrays {column: [n, ...]}, read in this
    process (small splits: tuning trials, tests); `ranker_splits` is the distributed reader."""
    to_arrays = ToArrays(dataset.spec, dataset.user_column)
    return to_arrays(read_table(dataset.tables[split], to_arrays.columns()))


def ranker_splits(dataset: DatasetConfig, with_valid: bool, materialize: bool = False) -> dict[str, Any]:
    """split name -> Ray Dataset of fixed-shape arrays (ToArrays over the split's Delta table).

    The validation split is read only when asked for (each split costs a coordinator actor).
    `materialize` runs the read and transform once and keeps the arrays in the object store, so
    several runs (a comparison) share them instead of re-reading Delta every epoch.
    """
    import ray.data

    options = ray.data.DataContext.get_current().execution_options
    before = options.preserve_order
    options.preserve_order = before or materialize  # cached arrays keep the tables' row order (repeatable seeds)
    try:
        to_arrays = ToArrays(dataset.spec, dataset.user_column)
        splits = {
            s: ray.data.read_delta(p, columns=to_arrays.columns()).map_batches(
                to_arrays, batch_format="pyarrow", batch_size=4096
            )
            for s, p in dataset.tables.items()
            if s != "valid" or with_valid
        }
        return {s: d.materialize() for s, d in splits.items()} if materialize else splits
    finally:
        options.preserve_order = before
