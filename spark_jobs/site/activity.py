"""A year of views and bookmarks for one block of users, plus the dirty rows a real log has.

Views: each user gets ~Poisson(activity * scale) views at uniform times between joining and the
year's end. A view picks an already-published illustration by popularity, with a share of views
going to illustrations published in the last fortnight (a feed of new work), so the test period
has views of illustrations nobody saw in training. Each view is bookmarked with the oracle
probability of `world.bookmark_probability`; the bookmark row follows the view by seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)

from spark_jobs.site import days as arriving_days
from spark_jobs.site import world

RECENT_SHARE = 0.25
RECENT_WINDOW = 14 * world.DAY
# Dirty rows added on top of the clean log, each a share of clean views (at least one each).
DIRTY_SHARES: dict[str, float] = {
    "null_user_id": 0.0005,
    "null_illust_id": 0.0005,
    "unknown_user_id": 0.001,
    "unknown_illust_id": 0.001,
    "duplicate_event": 0.002,
    "out_of_range_ts": 0.0005,
    "bad_event": 0.0005,
    "null_ts": 0.0005,
}


@dataclass
class ActivityBlock:
    """Arrays for one user block. Views: [n_views]; events are views + bookmarks + dirty rows."""

    interactions: pa.Table
    oracle: pa.Table
    dirty_counts: dict[str, int]


def _pick_items(rng: np.random.Generator, items: world.ItemArrays, cum_pop: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Popularity-weighted pick among items published before ts (and, for some, recently)."""
    hi = np.searchsorted(items.published, ts, side="left")  # items [0, hi) exist at ts
    lo = np.where(rng.random(ts.size) < RECENT_SHARE, np.searchsorted(items.published, ts - RECENT_WINDOW), 0)
    lo = np.where(hi - lo < 1, 0, lo)
    base = np.where(lo > 0, cum_pop[np.maximum(lo - 1, 0)], 0.0)
    top = cum_pop[np.maximum(hi - 1, 0)]
    target = base + rng.random(ts.size) * (top - base)
    return np.clip(np.searchsorted(cum_pop, target, side="right"), lo, np.maximum(hi - 1, 0))


def generate_block(size: world.SiteSize, seed: int, block: int, days: int = 0) -> ActivityBlock:
    """One user block's log; `days` > 0 draws the arriving days' bookmarks again under drifted tastes
    (spark_jobs.site.days; the history, and the whole block when `days` is 0, are as without it)."""
    users = world.build_user_block(size, seed, block)
    items = world.build_items(size, seed)
    cum_pop = _cum_popularity(size, seed)
    rng = world.rng_for(seed, "activity", block)
    n_views = rng.poisson(users.activity * world.views_per_activity(size))
    local = np.repeat(np.arange(n_views.size), n_views)
    start = np.maximum(users.joined[local], items.published[0] + world.DAY)
    ts = rng.integers(np.maximum(start, world.YEAR_START), world.YEAR_END)
    order = np.lexsort((ts, local))
    local, ts = local[order], ts[order]
    item = _pick_items(rng, items, cum_pop, ts)
    p = world.bookmark_probability(users, local, items, item)
    bookmarked = rng.random(p.size) < p

    n_b = int(bookmarked.sum())
    bts = np.minimum(ts[bookmarked] + rng.integers(5, 600, n_b), world.YEAR_END - 1)
    cols = _bookmarked_log(users.start + local, item, ts, bookmarked, bts)
    cols, counts = _add_dirty_rows(size, rng, cols)
    if days > 0:  # the arriving days: tastes drift; bookmarks of their views drawn again (own stream)
        clean = ts.size + n_b
        p, bookmarked, bts = arriving_days.redraw(seed, days, block, items.style[item], ts, p, bookmarked, bts)
        cols = _bookmarked_log(users.start + local, item, ts, bookmarked, bts).concat(
            cols.take(np.arange(clean, cols.user.size))
        )
    oracle = pa.table(
        {
            "user_id": _ids(users.start + local, world.USER_ID_OFFSET),
            "illust_id": _ids(item, world.ILLUST_ID_OFFSET),
            "ts": _timestamps(ts),
            "p_bookmark": pa.array(p, pa.float64()),
            "bookmarked": pa.array(bookmarked),
        }
    )
    return ActivityBlock(cols.to_arrow(), oracle, counts)


EVENTS = pa.array(["view", "bookmark", "click"])


def _bookmarked_log(
    user: np.ndarray, item: np.ndarray, ts: np.ndarray, bookmarked: np.ndarray, bts: np.ndarray
) -> _Columns:
    """Clean rows: every view [n], then a bookmark row (at `bts` [n_bookmarked]) for each bookmarked view."""
    return _Columns(
        user=np.concatenate([user, user[bookmarked]]),
        item=np.concatenate([item, item[bookmarked]]),
        event=np.concatenate([np.zeros(ts.size, np.int8), np.ones(int(bookmarked.sum()), np.int8)]),
        ts=np.concatenate([ts, bts]),
    )


def _ids(index: np.ndarray, offset: int, null: np.ndarray | None = None) -> pa.Array:
    """Integer indices -> string ids (the site's numeric id strings), null where `null`."""
    return pa.compute.cast(pa.array(index.astype(np.int64) + offset, mask=null), pa.string())


def _timestamps(seconds: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(seconds.astype(np.int64) * 1_000_000, type=pa.timestamp("us", tz="UTC"), mask=null)


@dataclass
class _Columns:
    """Interaction rows as integer arrays; null masks mark broken fields (dirty rows)."""

    user: np.ndarray
    item: np.ndarray
    event: np.ndarray
    ts: np.ndarray
    user_null: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # empty: no null (sized below)
    item_null: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    ts_null: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    def __post_init__(self) -> None:
        n = self.user.size
        for name in ("user_null", "item_null", "ts_null"):
            if getattr(self, name).size != n:
                setattr(self, name, np.zeros(n, bool))

    def take(self, rows: np.ndarray) -> _Columns:
        return _Columns(
            *(
                getattr(self, f)[rows].copy()
                for f in ("user", "item", "event", "ts", "user_null", "item_null", "ts_null")
            )
        )

    def concat(self, other: _Columns) -> _Columns:
        return _Columns(
            *(
                np.concatenate([getattr(self, f), getattr(other, f)])
                for f in ("user", "item", "event", "ts", "user_null", "item_null", "ts_null")
            )
        )

    def to_arrow(self) -> pa.Table:
        return pa.table(
            {
                "user_id": _ids(self.user, world.USER_ID_OFFSET, self.user_null),
                "illust_id": _ids(self.item, world.ILLUST_ID_OFFSET, self.item_null),
                "event": EVENTS.take(pa.array(self.event)),
                "ts": _timestamps(self.ts, self.ts_null),
            }
        )


def _cum_popularity(size: world.SiteSize, seed: int) -> np.ndarray:
    return np.cumsum(world.build_items(size, seed).popularity)


def _add_dirty_rows(size: world.SiteSize, rng: np.random.Generator, clean: _Columns) -> tuple[_Columns, dict[str, int]]:
    """Append copies of random clean rows, each broken in one stated way; count them by kind."""
    n = clean.user.size
    out, counts = clean, {}
    for kind, share in DIRTY_SHARES.items():
        k = max(1, int(round(n * share))) if n else 0
        rows = clean.take(rng.integers(0, n, k))
        if kind == "null_user_id":
            rows.user_null[:] = True
        elif kind == "null_illust_id":
            rows.item_null[:] = True
        elif kind == "unknown_user_id":
            rows.user = size.n_users + 5_000_000 + rng.integers(0, 1_000_000, k)
        elif kind == "unknown_illust_id":
            rows.item = size.n_items + 9_000_000 + rng.integers(0, 1_000_000, k)
        elif kind == "out_of_range_ts":  # 1970 or 2033
            rows.ts = np.where(rng.random(k) < 0.5, 0, 2_000_000_000 + rng.integers(0, 10**7, k))
        elif kind == "bad_event":
            rows.event[:] = 2
        elif kind == "null_ts":
            rows.ts_null[:] = True
        out = out.concat(rows)
        counts[kind] = k
    return out, counts
