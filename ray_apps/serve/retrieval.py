"""Candidate retrieval for `/v1/recommend`, built offline and loaded by each replica (no Ray here).

The index holds, from the lake's training interactions: the most viewed items, each user's most
recent bookmarks and the set of items each user has seen; and a neighbour space built from the
item vectors (unit-normed text and style vectors, concatenated and normed again, fp16
[num_items + 1, D]). Candidates for a user = popular items + the nearest neighbours of the mean
of the user's recent bookmarks.

`ensure_index(run_dir, lake)` builds RUN/retrieval.npz when it is missing or was built from other
versions of the lake's tables; replicas only `RetrievalIndex.load` it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ray_apps import storage
from ray_apps.encoders.item_features import TABLE as ITEM_FEATURES
from ray_apps.encoders.item_features import lake_item_vectors, load_item_vectors
from ray_apps.lake import read_table

INDEX_FILE = "retrieval.npz"
POPULAR = 200  # most viewed items always among the candidates
RECENT = 5  # a user's latest bookmarks that seed the neighbour search
NEIGHBOURS = 100  # neighbours added per user
SPACE_MODALITIES = ("e_tsem", "e_sty")


def _versions(lake: str | Path) -> np.ndarray:
    """Delta versions of the tables the index is built from (a changed table means a stale index)."""
    from deltalake import DeltaTable

    names = ["interactions_train", ITEM_FEATURES]
    return np.array(
        [DeltaTable(t).version() if storage.is_delta_table(t) else -1 for t in (storage.join(lake, n) for n in names)],
        np.int64,
    )


def _ragged(groups: dict[str, list[int]], users: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """{user: [item_idx]} -> (offsets [U + 1], values [total]) in `users` order."""
    lengths = np.array([len(groups.get(u, [])) for u in users], np.int64)
    values = np.array([i for u in users for i in groups.get(u, [])], np.int64)
    return np.concatenate([[0], np.cumsum(lengths)]), values


@dataclass
class RetrievalIndex:
    popular: list[int]
    recent: dict[str, list[int]]
    seen: dict[str, set[int]]
    space: np.ndarray | None = None  # [num_items + 1, D] fp16, rows unit-normed; None without item vectors
    versions: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @classmethod
    def build(cls, lake: str | Path) -> RetrievalIndex:
        train = read_table(storage.join(lake, "interactions_train"), ["user_id", "item_idx", "label", "ts"]).to_pandas()
        counts = train.groupby("item_idx").size().sort_values(ascending=False)
        positives = train[train.label == 1].sort_values("ts")
        recent = {u: [int(x) for x in s.tail(RECENT)] for u, s in positives.groupby("user_id")["item_idx"]}
        seen = {u: {int(x) for x in s} for u, s in train.groupby("user_id")["item_idx"]}
        space = None
        items = lake_item_vectors(lake, read_table(storage.join(lake, "items"), ["item_idx"]).num_rows)
        if items is not None:
            vectors = load_item_vectors(items)
            parts = [vectors[m][0].astype(np.float32) for m in SPACE_MODALITIES if m in vectors]
            v = np.concatenate([p / (np.linalg.norm(p, axis=1, keepdims=True) + 1e-9) for p in parts], 1)
            space = (v / (np.linalg.norm(v, axis=1, keepdims=True) + 1e-9)).astype(np.float16)
        return cls([int(i) for i in counts.index[:POPULAR]], recent, seen, space, _versions(lake))

    def save(self, path: str | Path) -> None:
        users = sorted(set(self.recent) | set(self.seen))
        recent_offsets, recent_values = _ragged(self.recent, users)
        seen_offsets, seen_values = _ragged({u: sorted(s) for u, s in self.seen.items()}, users)
        arrays = {
            "popular": np.array(self.popular, np.int64),
            "users": np.array(users, dtype=str),
            "recent_offsets": recent_offsets,
            "recent_values": recent_values,
            "seen_offsets": seen_offsets,
            "seen_values": seen_values,
            "versions": self.versions,
        }
        if self.space is not None:
            arrays["space"] = self.space
        tmp = Path(path).with_suffix(f".{os.getpid()}.tmp.npz")  # replicas building at once do not collide
        np.savez(tmp, **arrays)  # type: ignore[arg-type]
        tmp.replace(path)  # a replica never reads a half-written index

    @classmethod
    def load(cls, path: str | Path) -> RetrievalIndex:
        with np.load(path, allow_pickle=False) as z:
            users = z["users"].tolist()
            ro, rv, so, sv = z["recent_offsets"], z["recent_values"], z["seen_offsets"], z["seen_values"]
            recent = {u: rv[ro[i] : ro[i + 1]].tolist() for i, u in enumerate(users) if ro[i + 1] > ro[i]}
            seen = {u: set(sv[so[i] : so[i + 1]].tolist()) for i, u in enumerate(users)}
            return cls(z["popular"].tolist(), recent, seen, z["space"] if "space" in z else None, z["versions"])

    def candidates(self, user_id: str, exclude_seen: bool = True) -> list[int]:
        """item_idx candidates for a user, most popular first, then neighbours; seen items dropped if asked."""
        out = list(self.popular)
        recent = self.recent.get(user_id, [])
        if recent and self.space is not None:
            query = self.space[recent].astype(np.float32).mean(0)
            sims = self.space.astype(np.float32) @ query
            out += [int(i) for i in np.argsort(-sims)[:NEIGHBOURS] if i > 0]
        seen = self.seen.get(user_id, set()) if exclude_seen else set()
        return [i for i in dict.fromkeys(out) if i not in seen]


def ensure_index(run_dir: str | Path, lake: str | Path) -> Path:
    """RUN/retrieval.npz, built now if missing or built from other versions of the lake's tables (in this
    node's copy of RUN when it is on object storage)."""
    path = storage.local_copy(run_dir) / INDEX_FILE
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            if np.array_equal(z["versions"], _versions(lake)):
                return path
    RetrievalIndex.build(lake).save(path)
    return path
