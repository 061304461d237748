"""Feature lookup for online requests, built from the lake once per replica (no Ray, testable).

Given a user id, candidate illustration ids and a time, produce the same integer inputs the
preprocessing job wrote for offline examples, so online scores equal offline predictions.
Cold start: an unknown user gets index 0 (OOV) for every user field; a user absent from training
keeps their profile fields; an unknown illustration gets index 0 everywhere and no item vectors.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from ray_apps.common import read_table
from spark_jobs.schema import ITEM_INDEX_COLUMNS, USER_INDEX_COLUMNS

USER_COLS = [c for c, _ in USER_INDEX_COLUMNS]
ITEM_COLS = [c for c, _ in ITEM_INDEX_COLUMNS]


def item_age_bucket(ts_seconds: float, published_seconds: float | None) -> str:
    """Python twin of spark_jobs.transforms.features.item_age: log2-day buckets 'd0'..'d12'."""
    if published_seconds is None or (isinstance(published_seconds, float) and math.isnan(published_seconds)):
        return "unknown"
    days = max(ts_seconds - int(published_seconds), 0.0) / 86400.0
    return f"d{min(int(math.floor(math.log2(days + 1))), 12)}"


class FeatureStore:
    def __init__(self, lake: str | Path, spec_fields: list[str], max_lens: dict[str, int]) -> None:
        lake = Path(lake)
        users = read_table(lake / "users", ["user_id", *USER_COLS]).to_pandas()
        items = read_table(lake / "items", ["illust_id", "created_at", *ITEM_COLS]).to_pandas()
        self.users = users.set_index("user_id")
        self.items = items.set_index("illust_id")
        epoch = pd.Timestamp("1970-01-01", tz="UTC")
        self.item_published = (self.items["created_at"] - epoch).dt.total_seconds() if len(items) else pd.Series(dtype=float)
        vocab = read_table(lake / "vocab", ["feature", "value", "index"]).to_pandas()
        self.item_age_index = dict(vocab[vocab.feature == "item_age"][["value", "index"]].itertuples(index=False, name=None))
        self.fields = spec_fields
        self.max_lens = max_lens
        self.illust_by_idx = dict(zip(items["item_idx"], items["illust_id"]))

    def known_user(self, user_id: str) -> bool:
        return user_id in self.users.index

    def features(self, user_id: str, illust_ids: list[str], ts: datetime | None = None) -> tuple[dict[str, np.ndarray], list[bool]]:
        """-> (batch arrays [N] / [N, L] for the model, known flag per illustration)."""
        n = len(illust_ids)
        now = float(int((ts or datetime.now(timezone.utc)).timestamp()))  # whole seconds, as Spark's cast
        user = self.users.loc[user_id] if user_id in self.users.index else None
        rows = self.items.reindex(illust_ids)
        known = rows["item_idx"].notna().to_numpy()
        out: dict[str, np.ndarray] = {}
        for col in USER_COLS:
            if col not in self.fields:
                continue
            value = user[col] if user is not None else None
            out[col] = self._column(col, [value] * n)
        for col in ITEM_COLS:
            if col in self.fields:
                out[col] = self._column(col, [v if k else None for v, k in zip(rows[col].tolist(), known)])
        if "item_age_idx" in self.fields:
            published = self.item_published.reindex(illust_ids).tolist()
            out["item_age_idx"] = np.array([self.item_age_index.get(item_age_bucket(now, p), 0) if k else 0
                                            for p, k in zip(published, known)], np.int64)
        return out, known.tolist()

    def _column(self, col: str, values: list) -> np.ndarray:
        if col in self.max_lens:
            arr = np.zeros((len(values), self.max_lens[col]), np.int64)
            for i, v in enumerate(values):
                if v is not None and len(v):
                    v = np.asarray(v, np.int64)[: self.max_lens[col]]
                    arr[i, : len(v)] = v
            return arr
        return np.array([0 if v is None or (isinstance(v, float) and math.isnan(v)) else int(v) for v in values], np.int64)
