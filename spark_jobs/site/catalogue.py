"""Rows of the `users` and `illustrations` raw datasets for one block (pyarrow tables).

Optional fields are sometimes missing, as on a real site (no gender/age/region, no artist, no
image); those rows stay valid. A few dirty rows per dataset (a null id, a duplicate) are added
and counted so the preprocessing can prove it rejects them.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from spark_jobs.site import lexicon, world

GENDERS = np.array(["female", "male", "other"], dtype=object)
TYPES = np.array(["illust", "manga", "ugoira"], dtype=object)
US_PER_S = 1_000_000


def _ts(seconds: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(seconds, np.int64) * US_PER_S, pa.timestamp("us", tz="UTC"))


def _name(names: tuple[str, str, str], lang: int) -> str:
    return names[int(lang)]


def user_rows(size: world.SiteSize, seed: int, block: int) -> tuple[pa.Table, dict[str, int]]:
    users = world.build_user_block(size, seed, block)
    cat = world.build_catalog(size, seed)
    rng = world.rng_for(seed, "user_rows", block)
    n = users.bias.size
    region = np.array(lexicon.REGIONS, dtype=object)[rng.integers(0, len(lexicon.REGIONS), n)]
    region[rng.random(n) < 0.08] = None
    gender = GENDERS[rng.choice(3, n, p=[0.45, 0.5, 0.05])]
    gender[rng.random(n) < 0.1] = None
    age = rng.integers(13, 60, n).astype(object)
    age[rng.random(n) < 0.15] = None
    tags = []
    for u in range(n):
        lang = users.language[u]
        fav_series = np.argsort(-users.taste_series[u])[: rng.integers(1, 3)]
        fav_subjects = np.argsort(-users.taste_subject[u])[: rng.integers(1, 4)]
        t = [_name(cat.series[s], lang if rng.random() < 0.8 else int(rng.integers(0, 3))) for s in fav_series]
        t += [_name(lexicon.SUBJECT_WORDS[s], lang) for s in fav_subjects]
        if rng.random() < 0.3:  # noise: a random series the user does not especially like
            t.append(_name(cat.series[rng.integers(0, size.n_series)], lang))
        tags.append(t)
    created = np.minimum(users.joined, world.YEAR_START) - rng.integers(0, 6 * 365, n) * world.DAY
    created = np.where(users.joined > world.YEAR_START, users.joined, created)
    ids = world.user_id(users.start + np.arange(n)).astype(object)
    cols = {
        "user_id": ids,
        "gender": gender,
        "age": age,
        "region": region,
        "language": np.array(lexicon.LANGUAGES, dtype=object)[users.language],
        "interest_tags": tags,
        "created_at": created,
    }
    dirty = {"null_user_id": 1, "duplicate_user": 1}
    cols = {k: list(v) for k, v in cols.items()}
    for key in ("user_id", "gender", "age", "region", "language", "interest_tags", "created_at"):
        cols[key].append(None if key == "user_id" else cols[key][0])  # null id
        cols[key].append(cols[key][-2 if n > 1 else 0])  # exact duplicate of the last user
    table = pa.table(
        {
            "user_id": pa.array(cols["user_id"], pa.string()),
            "gender": pa.array(cols["gender"], pa.string()),
            "age": pa.array(cols["age"], pa.int32()),
            "region": pa.array(cols["region"], pa.string()),
            "language": pa.array(cols["language"], pa.string()),
            "interest_tags": pa.array(cols["interest_tags"], pa.list_(pa.string())),
            "created_at": _ts(np.array(cols["created_at"], np.int64)),
        }
    )
    return table, dirty


def item_tags(size: world.SiteSize, seed: int, items: world.ItemArrays, i: int, rng: np.random.Generator) -> list[str]:
    """Artist tags of item i: subject, series, character(s), sometimes style / AI / original."""
    cat = world.build_catalog(size, seed)
    lang = items.artist_language[i]
    pick = lambda names: _name(names, lang if rng.random() < 0.7 else int(rng.integers(0, 3)))  # noqa: E731
    tags = [pick(lexicon.SUBJECT_WORDS[items.subject[i]])]
    s = items.series[i]
    if s >= 0:
        tags.append(pick(cat.series[s]))
        tags.append(pick(cat.characters[s][items.character[i]]))
        if rng.random() < 0.25:
            tags.append(pick(cat.characters[s][rng.integers(0, size.chars_per_series)]))
    else:
        tags.append(pick(lexicon.ORIGINAL_TAG))
    if rng.random() < 0.1:
        tags.append(pick(lexicon.STYLE_WORDS[items.style[i]]))
    return list(dict.fromkeys(tags))


def image_shape(size: world.SiteSize, rng: np.random.Generator) -> tuple[int, int]:
    """(width, height): square, landscape 4:3 or portrait 3:4 at `size.image_size`."""
    s = size.image_size
    return [(s, s), (s, s * 3 // 4), (s * 3 // 4, s)][int(rng.choice(3, p=[0.5, 0.25, 0.25]))]


def item_rows(size: world.SiteSize, seed: int, block: int, image_root: str | None) -> tuple[pa.Table, dict[str, int]]:
    items = world.build_items(size, seed)
    cat = world.build_catalog(size, seed)
    start = block * size.items_per_block
    idx = np.arange(start, min(start + size.items_per_block, size.n_items))
    rng = world.rng_for(seed, "item_rows", block)
    ids = world.illust_id(idx).astype(object)
    rows: dict[str, list] = {
        k: []
        for k in (
            "illust_id",
            "artist_id",
            "title",
            "tags",
            "image_uri",
            "width",
            "height",
            "page_count",
            "type",
            "x_restrict",
            "ai_generated",
            "created_at",
        )
    }
    for k, i in enumerate(idx):
        w, h = image_shape(size, rng)
        ai = bool(
            rng.random()
            < 0.03 + 0.1 * (items.published[i] - world.FIRST_PUBLISHED) / (world.YEAR_END - world.FIRST_PUBLISHED)
        )
        tags = item_tags(size, seed, items, int(i), rng)
        if ai:
            tags.append(_name(lexicon.AI_TAG, items.artist_language[i]))
        s = items.series[i]
        subject = _name(lexicon.SUBJECT_WORDS[items.subject[i]], items.artist_language[i])
        title = (
            f"{_name(cat.characters[s][items.character[i]], items.artist_language[i])} {subject}" if s >= 0 else subject
        )
        kind = TYPES[rng.choice(3, p=[0.8, 0.15, 0.05])]
        rows["illust_id"].append(ids[k])
        rows["artist_id"].append(None if rng.random() < 0.02 else f"a{items.artist[i]}")
        rows["title"].append(title)
        rows["tags"].append(tags)
        missing_image = image_root is None or rng.random() < 0.01
        rows["image_uri"].append(None if image_root is None or missing_image else image_path(image_root, ids[k]))
        rows["width"].append(w)
        rows["height"].append(h)
        rows["page_count"].append(int(rng.integers(2, 20)) if kind == "manga" else 1)
        rows["type"].append(kind)
        rows["x_restrict"].append(int(rng.choice(3, p=[0.93, 0.05, 0.02])))
        rows["ai_generated"].append(ai)
        rows["created_at"].append(int(items.published[i]))
    dirty = {"null_illust_id": 1, "duplicate_illustration": 1}
    for key in rows:
        rows[key].append(None if key == "illust_id" else rows[key][0])
        rows[key].append(rows[key][-2 if len(idx) > 1 else 0])
    table = pa.table(
        {
            "illust_id": pa.array(rows["illust_id"], pa.string()),
            "artist_id": pa.array(rows["artist_id"], pa.string()),
            "title": pa.array(rows["title"], pa.string()),
            "tags": pa.array(rows["tags"], pa.list_(pa.string())),
            "image_uri": pa.array(rows["image_uri"], pa.string()),
            "width": pa.array(rows["width"], pa.int32()),
            "height": pa.array(rows["height"], pa.int32()),
            "page_count": pa.array(rows["page_count"], pa.int32()),
            "type": pa.array(rows["type"], pa.string()),
            "x_restrict": pa.array(rows["x_restrict"], pa.int32()),
            "ai_generated": pa.array(rows["ai_generated"], pa.bool_()),
            "created_at": _ts(np.array(rows["created_at"], np.int64)),
        }
    )
    return table, dirty


def image_path(image_root: str, illust_id: str) -> str:
    """Images are sharded by the id's last two digits, like an object store prefix."""
    return f"{image_root.rstrip('/')}/{illust_id[-2:]}/{illust_id}.jpg"
