"""Feature lookup for online requests, built from the lake once per replica (no Ray, testable).

Given a user id, candidate illustration ids and a time, produce the same integer inputs the
preprocessing job wrote for offline examples, so online scores equal offline predictions.
Cold start: an unknown user gets index 0 (OOV) for every user field; a user absent from training
keeps their profile fields; an unknown illustration gets index 0 everywhere and no item vectors.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ray_apps.lake import read_table
from ray_apps.ranker.data import padded_lists
from ray_apps.serve.id_index import IdIndex
from spark_jobs.schema import ITEM_INDEX_COLUMNS, USER_INDEX_COLUMNS
from umair_models import storage

USER_COLS = [c for c, _ in USER_INDEX_COLUMNS]
ITEM_COLS = [c for c, _ in ITEM_INDEX_COLUMNS]


AGE_BUCKETS = 13  # 'd0'..'d12'


def item_age_buckets(ts_seconds: int, published_seconds: np.ndarray) -> np.ndarray:
    """Numpy twin of spark_jobs.transforms.features.item_age: log2-day bucket 0..12 [N] of items
    published at whole-second times [N] (int64), shown at `ts_seconds`."""
    days = np.maximum(ts_seconds - published_seconds, 0) / 86400.0
    return np.minimum(np.floor(np.log2(days + 1.0)), AGE_BUCKETS - 1).astype(np.int64)


class FeatureStore:
    """The lake's users and items as dense index arrays, row 0 = out of vocabulary.

    Built once per replica: every user / item column becomes a numpy array [rows + 1] (or
    [rows + 1, L] for lists, padded as in training) of the narrowest integer type that holds it, and
    ids map to rows through `IdIndex` (no Python object per id), so a request is one batched id lookup
    and one fancy-index per column. At 1.88 M items this holds 0.64 GB where dicts and int64 held 1.42 GB.
    """

    def __init__(self, lake: str | Path, spec_fields: list[str], max_lens: dict[str, int]) -> None:
        self.fields = set(spec_fields)
        user_cols = [c for c in USER_COLS if c in self.fields]
        item_cols = [c for c in ITEM_COLS if c in self.fields]
        users = read_table(storage.join(lake, "users"), ["user_id", *user_cols])
        items = read_table(
            storage.join(lake, "items"),
            ["illust_id", "created_at", "item_idx", *[c for c in item_cols if c != "item_idx"]],
        )
        self.users, self.items = IdIndex(users["user_id"]), IdIndex(items["illust_id"])
        self.user_columns = {c: _dense(users[c], max_lens.get(c)) for c in user_cols}
        self.item_columns = {c: _dense(items[c], max_lens.get(c)) for c in item_cols}
        micros = pc.cast(items["created_at"], pa.timestamp("us", "UTC")).cast(pa.int64())
        self.item_published = np.concatenate([[0], micros.fill_null(0).to_numpy() // 1_000_000]).astype(
            np.int64
        )  # floor, as Spark
        self.item_has_published = np.concatenate([[False], micros.is_valid().to_numpy(zero_copy_only=False)])
        vocab = read_table(storage.join(lake, "vocab"), ["feature", "value", "index"]).to_pylist()
        age_index = {r["value"]: r["index"] for r in vocab if r["feature"] == "item_age"}
        self.age_index = np.array(
            [age_index.get(f"d{b}", 0) for b in range(AGE_BUCKETS)], np.int64
        )  # bucket -> vocab index
        self.age_unknown = age_index.get("unknown", 0)
        item_idx = items["item_idx"].fill_null(-1).to_numpy()
        self.position_of_idx = np.full(max(int(item_idx.max(initial=0)) + 1, 1), -1, np.int64)  # item_idx -> row - 1
        self.position_of_idx[item_idx[item_idx >= 0]] = np.flatnonzero(item_idx >= 0)

    def known_user(self, user_id: str) -> bool:
        return self.users.contains(user_id)

    def illust_ids(self, item_idxs: list[int]) -> list[str]:
        """The illustration ids of catalogue indices (retrieval's candidates), in order; unknown ones left out."""
        idx = np.asarray(item_idxs, np.int64)
        idx = idx[(idx >= 0) & (idx < len(self.position_of_idx))]
        positions = self.position_of_idx[idx]
        return self.items.ids.take(pa.array(positions[positions >= 0])).to_pylist()

    def features(
        self, user_id: str, illust_ids: list[str], ts: datetime | None = None
    ) -> tuple[dict[str, np.ndarray], list[bool]]:
        """-> (model inputs: int64 [N] or [N, L] per field, known flag per illustration)."""
        now = int((ts or datetime.now(UTC)).timestamp())  # whole seconds, as Spark's cast
        rows = self.items.rows(illust_ids)
        user = int(self.users.rows([user_id])[0])
        out = {
            c: np.repeat(values[user : user + 1], len(rows), 0).astype(np.int64)
            for c, values in self.user_columns.items()
        }
        out.update({c: values[rows].astype(np.int64) for c, values in self.item_columns.items()})
        known = rows > 0
        if "item_age_idx" in self.fields:
            age = np.where(
                self.item_has_published[rows],
                self.age_index[item_age_buckets(now, self.item_published[rows])],
                self.age_unknown,
            )
            out["item_age_idx"] = np.where(known, age, 0)
        return out, known.tolist()


def _dense(column: pa.ChunkedArray, max_len: int | None) -> np.ndarray:
    """A lake index column -> [rows + 1] (or [rows + 1, max_len] for lists), row 0 all zeros, in the
    narrowest signed integer type that holds its values (requests widen the rows they take to int64)."""
    if max_len:
        values = padded_lists(column, max_len)
    else:
        values = np.asarray(column.fill_null(0).to_numpy(), np.int64)
    low, high = (int(values.min()), int(values.max())) if values.size else (0, 0)
    dtype = next(
        t for t in (np.int8, np.int16, np.int32, np.int64) if np.iinfo(t).min <= low and high <= np.iinfo(t).max
    )
    return np.concatenate([np.zeros((1, *values.shape[1:]), dtype), values.astype(dtype)])
