"""Days that arrive: the last N days of the site's year carved out of the history as daily partitions.

`umair generate --days N` writes the same site as without the flag, but rows whose time falls in
one of the year's last N days go to a partition `<dataset>/date=YYYY-MM-DD/` instead of the
history files (interactions by `ts`, users and illustrations by `created_at`), so `umair prep`
builds the lake from the history and `umair ingest` then takes one day at a time. What makes a
later day worth a retrain: users and illustrations the history never saw (illustrations keep being
published up to the last day) and a slow drift of tastes (`drift_logit`). Late delivery is
simulated too: a few of each day's events arrive in the next day's partition.

Rows with no usable time (null or outside the year: the generator's dirty rows) stay in the history,
where `prep` rejects them as before. Same seed and same N: byte-identical partitions.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spark_jobs.site import world

LATE_SHARE = 0.01  # of a day's events, delivered again in the next day's partition instead (at least 1)
DRIFT_PER_DAY = 0.08  # logit change per day after the history's end, per unit of a style's trend


def cut(days: int) -> int:
    """First second of the first arriving day (epoch seconds); the history is everything before."""
    return int(world.YEAR_END - days * world.DAY)


def day_names(days: int) -> list[str]:
    """The partition dates, oldest first: ['2021-12-29', '2021-12-30', '2021-12-31'] for 3 days."""
    first = np.datetime64(cut(days), "s")
    return [str((first + np.timedelta64(k * world.DAY, "s")).astype("datetime64[D]")) for k in range(days)]


def drift_logit(seed: int, days: int, style: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Extra bookmark logit [n] for views of illustrations of `style` [n] at `ts` [n]: zero in the
    history; from the first arriving day each style's appeal moves by its trend (one N(0, 1) draw per
    style, from the seed) times DRIFT_PER_DAY per day elapsed."""
    if days <= 0:
        return np.zeros(ts.shape)
    trend = world.rng_for(seed, "style_trend").standard_normal(world.N_STYLES)
    elapsed = np.maximum(ts - cut(days), 0) / world.DAY
    return DRIFT_PER_DAY * elapsed * trend[style]


def redraw(
    seed: int,
    days: int,
    block: int,
    style: np.ndarray,
    ts: np.ndarray,
    p: np.ndarray,
    bookmarked: np.ndarray,
    bts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views [n] of one user block (item `style`, time `ts`, oracle `p`, `bookmarked`) and the times of
    their bookmarks `bts` [n_bookmarked] -> the same three with the arriving days' views re-decided
    under the drifted oracle, from a stream of their own (so nothing before the days moves)."""
    in_days = ts >= cut(days)
    logit = np.log(p) - np.log1p(-p) + drift_logit(seed, days, style, ts)
    p_new = np.where(in_days, 1.0 / (1.0 + np.exp(-logit)), p)
    rng = world.rng_for(seed, "drift", block)
    decided = np.where(in_days, rng.random(p.size) < p_new, bookmarked)
    when = np.zeros(p.size, np.int64)
    when[bookmarked] = bts
    redrawn = in_days & decided & ~bookmarked
    when[redrawn] = np.minimum(ts[redrawn] + rng.integers(5, 600, int(redrawn.sum())), world.YEAR_END - 1)
    return p_new, decided, when[decided]


def split_by_day(
    table: pa.Table, time_column: str, days: int, rng: np.random.Generator | None = None
) -> tuple[pa.Table, dict[str, pa.Table]]:
    """(history rows, {date: rows of that day}). With `rng`, LATE_SHARE of each day's rows (but the
    last day's) move to the next day's partition, keeping their time: late events."""
    seconds = pc.cast(table[time_column], pa.int64()).to_numpy(zero_copy_only=False)
    valid = table[time_column].is_valid().to_numpy(zero_copy_only=False)
    seconds = np.where(valid, seconds // 1_000_000, -1)  # microseconds -> seconds; null -> history
    start = cut(days)
    day = np.where(valid & (seconds >= start) & (seconds < world.YEAR_END), (seconds - start) // world.DAY, -1)
    if rng is not None:
        for k in range(days - 1):
            rows = np.flatnonzero(day == k)
            if rows.size:
                late = rng.choice(rows, max(1, int(round(rows.size * LATE_SHARE))), replace=False)
                day[late] = k + 1
    names = day_names(days)
    history = table.filter(pa.array(day < 0))
    return history, {names[k]: table.filter(pa.array(day == k)) for k in range(days)}
