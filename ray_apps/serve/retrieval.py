"""Candidate retrieval for `/v1/recommend`, built offline with the serving export (no Ray here).

From the lake's training interactions: the most viewed items, each user's most recent bookmarks and
the items each user has seen, kept as ragged int arrays (one dict from user id to row; no Python set
per user). And a neighbour space over the catalogue in a faiss index: candidates for a user = popular
items + the approximate nearest neighbours of the mean of the user's recent bookmarks.

The neighbour space is the model's own view of an item when it has one (the exported projections of
e_TSEM and e_STY, `ray_apps.serve.export`), else the standardized raw text and style vectors; each
part unit-normed, concatenated and normed again, so inner product = cosine.

Why faiss: a well-kept library made for exactly this (exact and approximate indexes behind one API,
so recall against exact search is measured with the same code), wheels on PyPI for every platform,
and graph indexes over compressed vectors: HNSW (M = 16 links) over 8-bit scalar-quantized rows keeps
about D + 140 bytes per item (0.48 GB for 1.88 M items of D = 128). On a 40,000-item clustered test
catalogue an inverted-file index (IVF, SQ8) needed a quarter of its lists probed to reach recall@100
0.95 for the endpoint's queries (the mean of a few bookmarks lies between clusters); HNSW reached 0.98
in under a millisecond. At 1.88 M stand-in items it reaches only 0.77 at efSearch 1024 (3.7 ms p99):
a miss, written down in bench/README.md. Catalogues under EXACT_BELOW items are searched exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ray_apps.lake import read_table
from umair_models import storage

POPULAR = 200  # most viewed items always among the candidates
RECENT = 5  # a user's latest bookmarks that seed the neighbour search
NEIGHBOURS = 100  # neighbours added per user
SPACE_MODALITIES = ("e_tsem", "e_sty")
EXACT_BELOW = 50_000  # smaller catalogues get an exact flat index
HNSW_LINKS, HNSW_EF_CONSTRUCTION = 16, 80  # graph degree and build depth
HNSW_EF_SEARCH = 1024  # search depth: recall vs time per query (bench/README.md: serve_export at 1.88 M items)
TABLES_FILE, ANN_FILE = "retrieval.npz", "neighbours.faiss"


def neighbour_space(parts: list[np.ndarray]) -> np.ndarray:
    """Per-modality vectors [N, D_j] -> [N, sum D_j] float32: each part unit-normed, concatenated, normed."""
    v = np.concatenate(
        [p / (np.linalg.norm(p, axis=1, keepdims=True) + 1e-9) for p in (np.asarray(x, np.float32) for x in parts)], 1
    )
    return (v / (np.linalg.norm(v, axis=1, keepdims=True) + 1e-9)).astype(np.float32)


def build_ann(space: np.ndarray, exact_below: int = EXACT_BELOW) -> Any:  # faiss.Index
    """A faiss inner-product index over `space` [N, D] float32 (row i = item_idx i): exact (flat) below
    `exact_below` rows, else HNSW over 8-bit scalar-quantized rows."""
    import faiss

    n, d = space.shape
    index: Any
    if n < exact_below:
        index = faiss.IndexFlatIP(d)
    else:
        index = faiss.IndexHNSWSQ(
            d,
            faiss.ScalarQuantizer.QT_8bit,  # type: ignore[arg-type]  # faiss's stubs mistype the quantizer type
            HNSW_LINKS,
            faiss.METRIC_INNER_PRODUCT,
        )
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.train(space)  # the quantizer's per-dimension ranges
    index.add(space)
    _set_search_depth(index)
    return index


def _set_search_depth(index) -> None:
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = HNSW_EF_SEARCH


def save_ann(index, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def load_ann(path: Path) -> Any:  # faiss.Index, searching as deep as build_ann's
    import faiss

    index = faiss.read_index(str(path))
    _set_search_depth(index)
    return index


def search(index, queries: np.ndarray, k: int) -> np.ndarray:
    """Row ids [Q, k] of the k best inner products for queries [Q, D] (-1 where fewer exist)."""
    _, ids = index.search(np.ascontiguousarray(queries, np.float32), k)
    return ids


def recall_at(index, exact, queries: np.ndarray, k: int = 100) -> float:
    """Mean share of the exact top-k (flat index `exact`) that `index` returns in its top-k."""
    got, want = search(index, queries, k), search(exact, queries, k)
    return float(np.mean([len(set(g) & set(w)) / k for g, w in zip(got, want)]))


def _ragged(groups: dict[str, np.ndarray], users: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """{user: item_idx [n]} -> (offsets [U + 1], values [total]) in `users` order."""
    parts = [groups.get(u, np.zeros(0, np.int64)) for u in users]
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
    return offsets, (np.concatenate(parts) if parts else np.zeros(0)).astype(np.int64)


@dataclass
class RetrievalIndex:
    popular: np.ndarray  # [P] item_idx, most viewed first
    users: dict[str, int]  # user id -> row of the ragged arrays
    recent_offsets: np.ndarray  # [U + 1]
    recent_values: np.ndarray  # item_idx of each user's latest bookmarks, oldest first
    seen_offsets: np.ndarray  # [U + 1]
    seen_values: np.ndarray  # item_idx each user has seen, sorted
    ann: Any = None  # faiss index over the neighbour space; None without item vectors

    @classmethod
    def build(cls, lake: str | Path, space: np.ndarray | None, exact_below: int = EXACT_BELOW) -> RetrievalIndex:
        """From LAKE/interactions_train and a neighbour space [num_items + 1, D] (or None)."""
        train = read_table(storage.join(lake, "interactions_train"), ["user_id", "item_idx", "label", "ts"]).to_pandas()
        counts = train.groupby("item_idx").size().sort_values(ascending=False, kind="stable")
        positives = train[train.label == 1].sort_values("ts", kind="stable")
        recent = {u: s.to_numpy()[-RECENT:] for u, s in positives.groupby("user_id")["item_idx"]}
        seen = {u: np.unique(s.to_numpy()) for u, s in train.groupby("user_id")["item_idx"]}
        users = sorted(set(recent) | set(seen))
        ro, rv = _ragged(recent, users)
        so, sv = _ragged(seen, users)
        ann = build_ann(space, exact_below) if space is not None else None
        return cls(counts.index[:POPULAR].to_numpy(np.int64), {u: i for i, u in enumerate(users)}, ro, rv, so, sv, ann)

    def save(self, folder: Path) -> None:
        """FOLDER/retrieval.npz (+ neighbours.faiss)."""
        np.savez(
            folder / TABLES_FILE,
            popular=self.popular,
            users=np.array(list(self.users), dtype=str),
            recent_offsets=self.recent_offsets,
            recent_values=self.recent_values,
            seen_offsets=self.seen_offsets,
            seen_values=self.seen_values,
        )
        if self.ann is not None:
            save_ann(self.ann, folder / ANN_FILE)

    @classmethod
    def load(cls, folder: Path) -> RetrievalIndex:
        with np.load(folder / TABLES_FILE, allow_pickle=False) as z:
            users = {u: i for i, u in enumerate(z["users"].tolist())}
            popular, ro, rv, so, sv = (
                z[k] for k in ("popular", "recent_offsets", "recent_values", "seen_offsets", "seen_values")
            )
        ann = load_ann(folder / ANN_FILE) if (folder / ANN_FILE).exists() else None
        return cls(popular, users, ro, rv, so, sv, ann)

    def _row(self, offsets: np.ndarray, values: np.ndarray, user_id: str) -> np.ndarray:
        i = self.users.get(user_id)
        return values[offsets[i] : offsets[i + 1]] if i is not None else values[:0]

    def candidates(self, user_id: str, exclude_seen: bool = True) -> list[int]:
        """item_idx candidates for a user, most popular first, then neighbours; seen items dropped if asked."""
        out = [self.popular]
        recent = self._row(self.recent_offsets, self.recent_values, user_id)
        if len(recent) and self.ann is not None:
            query = np.stack([self.ann.reconstruct(int(i)) for i in recent]).mean(0, keepdims=True)  # [1, D]
            ids = search(self.ann, query, NEIGHBOURS + 1)[0]
            out.append(ids[ids > 0])  # -1 = none left; 0 = the unknown item
        merged = np.concatenate(out)
        if exclude_seen:
            merged = merged[~np.isin(merged, self._row(self.seen_offsets, self.seen_values, user_id))]
        return [int(i) for i in dict.fromkeys(merged.tolist())]
