"""The `item_features` table: written by `embed`, read back here by the ranker and the endpoint.

One row per item: `item_idx`, `illust_id`, the vectors e_SEM, e_STY, e_TSEM as little-endian float16
blobs (Delta has no half type: decode with numpy.frombuffer(blob, "<f2"); e_SEM / e_STY are null for
every item when embed ran text only), `ok` (image vectors exist), `error` and the encoder versions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ray_apps.lake import read_table
from umair_models import storage

COLUMNS = ["item_idx", "illust_id", "e_sem", "e_sty", "e_tsem", "ok", "error", "image_encoder", "text_encoder"]
MODALITIES = ("e_tsem", "e_sem", "e_sty")
IMAGE_MODALITIES = {"e_sem", "e_sty"}  # present where `ok` (the image was read); any other modality: every item
TABLE = "item_features"


@dataclass
class ItemVectors:
    """Where a dataset's frozen per-item vectors live: table, key column, widths, presence column."""

    table: str
    key: str = "item_idx"
    num_items: int = 0
    vectors: dict[str, int] = field(default_factory=dict)
    present: str | None = "ok"


def to_blob(vectors: np.ndarray) -> list[bytes]:
    """[N, D] -> N little-endian float16 blobs."""
    v = np.ascontiguousarray(vectors, dtype="<f2")
    return [row.tobytes() for row in v]


def from_blobs(blobs: list[bytes | None], dim: int) -> np.ndarray:
    """N float16 blobs (None = missing) -> [N, dim] float16."""
    out = np.zeros((len(blobs), dim), np.float16)
    for i, b in enumerate(blobs):
        if b:
            out[i] = np.frombuffer(b, dtype="<f2")
    return out


def embedded_item_vectors(table: str, key: str, num_items: int, present: str | None = "ok") -> ItemVectors | None:
    """An item_features table written by `embed` as ItemVectors: each modality's width from its first
    non-null blob; a modality null for every item (text-only embed) is left out. None while the table
    does not exist (before `embed` ran)."""
    if not storage.is_delta_table(table):
        return None
    columns = read_table(table, list(MODALITIES))
    widths = {}
    for m in MODALITIES:
        blobs = pc.drop_null(columns[m])
        if len(blobs):
            widths[m] = len(blobs[0].as_py()) // 2
    return ItemVectors(table, key, num_items, widths, present)


def lake_item_vectors(lake: str | Path, num_items: int) -> ItemVectors | None:
    """Our lake's item_features as ItemVectors; None before `embed` ran."""
    return embedded_item_vectors(storage.join(lake, TABLE), "item_idx", num_items)


def encoder_versions(lake: str | Path) -> dict[str, str]:
    """{image_encoder, text_encoder} versions that built the lake's item_features ({} before `embed`)."""
    path = storage.join(lake, TABLE)
    if not storage.is_delta_table(path):
        return {}
    rows = read_table(path, ["image_encoder", "text_encoder"]).slice(0, 1).to_pylist()
    return rows[0] if rows else {}


ROWS_PER_STEP = 65_536  # rows standardized at a time: float32 scratch of ROWS_PER_STEP x dim, not N x dim


def standardize(vectors: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Per-dimension z-score over the items that have the modality; absent rows stay 0. In place on
    `vectors` ([N, dim] float16, returned), ROWS_PER_STEP rows at a time (mean and variance summed in
    float64), so 1.88 M items x 768 need no float32 copy of the whole table.

    Raw Gram-matrix style vectors share a large common component (cosine ~0.9 between different
    styles); centring and scaling lets the small projections see what differs between items.
    A function of item content only (no labels), so training and serving compute the same table.
    """
    steps = range(0, len(vectors), ROWS_PER_STEP)
    count = int(present.sum())
    total = np.zeros(vectors.shape[1])
    squares = np.zeros(vectors.shape[1])
    for s in steps:
        v = vectors[s : s + ROWS_PER_STEP][present[s : s + ROWS_PER_STEP]].astype(np.float64)
        total += v.sum(0)
        squares += (v * v).sum(0)
    mean = total / max(count, 1)
    std = np.sqrt(np.maximum(squares / max(count, 1) - mean * mean, 0.0)) + 1e-6
    for s in steps:
        rows = slice(s, s + ROWS_PER_STEP)
        v = (vectors[rows].astype(np.float32) - mean.astype(np.float32)) / std.astype(np.float32)
        v[~present[rows]] = 0.0
        vectors[rows] = v
    return vectors


def blob_column(column: pa.ChunkedArray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """A column of float16 blobs -> ([N, dim] float16, has [N] bool) with no Python object per row:
    each Arrow chunk's value bytes are read as one buffer (a null row holds none). Raises when a
    blob is not dim float16 values."""
    out = np.zeros((len(column), dim), np.float16)
    has = np.zeros(len(column), bool)
    row = 0
    for chunk in column.chunks:
        chunk = chunk.cast(pa.large_binary())
        _, offsets_buffer, data = chunk.buffers()
        offsets = np.frombuffer(offsets_buffer, np.int64)[chunk.offset : chunk.offset + len(chunk) + 1]
        lengths = np.diff(offsets)
        if not np.isin(lengths, (0, 2 * dim)).all():
            bad = int(lengths[~np.isin(lengths, (0, 2 * dim))][0])
            raise ValueError(f"a vector blob of {bad} bytes where {dim} float16 values ({2 * dim} bytes) were expected")
        filled = lengths > 0
        if filled.any():
            values = np.frombuffer(data, np.uint8)[offsets[0] : offsets[-1]].view("<f2").reshape(-1, dim)
            out[row : row + len(chunk)][filled] = values
        has[row : row + len(chunk)] = filled
        row += len(chunk)
    return out, has


def load_item_vectors(items: ItemVectors) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (standardized vectors [num_items + 1, dim] float16, present [num_items + 1] bool); row 0 = unknown.

    One modality read at a time and decoded from Arrow buffers: the peak is about one modality's
    column plus the tables returned (at 1.88 M items x 512 / 768 / 256: ~2.9 GB + 5.8 GB)."""
    head = read_table(items.table, [items.key] + ([items.present] if items.present else []))
    keys = np.asarray(head[items.key].to_numpy(zero_copy_only=False), np.int64)
    n = max(items.num_items, int(keys.max(initial=0))) + 1
    ok = (
        np.asarray(head[items.present].to_numpy(zero_copy_only=False), bool)
        if items.present
        else np.ones(len(keys), bool)
    )
    out = {}
    for name, dim in items.vectors.items():
        column = read_table(items.table, [items.key, name])
        decoded, _ = blob_column(column[name], dim)
        vectors = np.zeros((n, dim), np.float16)
        vectors[np.asarray(column[items.key].to_numpy(zero_copy_only=False), np.int64)] = decoded
        del decoded, column
        present = np.zeros(n, bool)
        present[keys] = ok if name in IMAGE_MODALITIES else True
        out[name] = (standardize(vectors, present), present)
    return out
