"""The `item_features` table: written by `embed`, read back here by the ranker and the endpoint.

One row per item: `item_idx`, `illust_id`, the vectors e_SEM, e_STY, e_TSEM as little-endian float16
blobs (Delta has no half type: decode with numpy.frombuffer(blob, "<f2"); e_SEM / e_STY are null for
every item when embed ran text only), `ok` (image vectors exist), `error` and the encoder versions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from ray_apps import storage
from ray_apps.lake import read_table

COLUMNS = ["item_idx", "illust_id", "e_sem", "e_sty", "e_tsem", "ok", "error", "image_encoder", "text_encoder"]
MODALITIES = ("e_tsem", "e_sem", "e_sty")
TEXT_MODALITIES = {"e_tsem"}  # present for every item; image modalities depend on `ok`
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


def standardize(vectors: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Per-dimension z-score over the items that have the modality; absent rows stay 0.

    Raw Gram-matrix style vectors share a large common component (cosine ~0.9 between different
    styles); centring and scaling lets the small projections see what differs between items.
    A function of item content only (no labels), so training and serving compute the same table.
    """
    v = vectors.astype(np.float32)
    if present.any():
        mean, std = v[present].mean(0), v[present].std(0) + 1e-6
        v = (v - mean) / std
    v[~present] = 0.0
    return v.astype(np.float16)


def load_item_vectors(items: ItemVectors) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (standardized vectors [num_items + 1, dim] float16, present [num_items + 1] bool); row 0 = unknown."""
    cols = [items.key, *items.vectors] + ([items.present] if items.present else [])
    table = read_table(items.table, cols)
    keys = np.asarray(table[items.key].to_numpy(zero_copy_only=False), np.int64)
    n = max(items.num_items, int(keys.max(initial=0))) + 1
    ok = (
        np.asarray(table[items.present].to_numpy(zero_copy_only=False), bool)
        if items.present
        else np.ones(len(keys), bool)
    )
    out = {}
    for name, dim in items.vectors.items():
        vectors = np.zeros((n, dim), np.float16)
        vectors[keys] = from_blobs(table[name].to_pylist(), dim)
        present = np.zeros(n, bool)
        present[keys] = True if name in TEXT_MODALITIES else ok
        out[name] = (standardize(vectors, present), present)
    return out
