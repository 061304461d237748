"""The sample site's entities and its generative rule, all pure functions of (size, seed).

Generative rule for bookmarks (the "oracle"). For a view of illustration i by user u:

    logit = BASE + user_bias[u]
            + W_STYLE   * taste_style[u, style(i)]
            + W_SUBJECT * taste_subject[u, subject(i)]
            + W_SERIES  * taste_series[u, series(i)]        (0 for original works)
            + W_POP     * (log popularity(i) - mean)
            + quality(i)
    P(bookmark) = sigmoid(logit)

Tastes are per-user Gaussian vectors with a few favourites boosted. Users' interest tags name
their favourite subjects and series (noisily) but never their favourite painting style: style is
learnable only from behaviour and from the images, as on a real site.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import numpy as np

from spark_jobs.site import lexicon

YEAR_START = np.datetime64("2021-01-01T00:00:00", "s").astype(np.int64)
YEAR_END = np.datetime64("2022-01-01T00:00:00", "s").astype(np.int64)
FIRST_PUBLISHED = np.datetime64("2020-07-01T00:00:00", "s").astype(np.int64)
DAY = 86_400

N_STYLES = len(lexicon.STYLE_WORDS)
N_SUBJECTS = len(lexicon.SUBJECT_WORDS)
BASE, W_STYLE, W_SUBJECT, W_SERIES, W_POP = -3.0, 1.1, 0.7, 0.9, 0.25


@dataclass(frozen=True)
class SiteSize:
    """How big a generated site is. `n_views` counts clean views (bookmark rows come on top)."""

    name: str
    n_users: int
    n_items: int
    n_views: int
    n_series: int
    chars_per_series: int
    users_per_block: int
    items_per_block: int
    image_size: int = 128


SIZES: dict[str, SiteSize] = {
    "tiny": SiteSize("tiny", 300, 800, 15_000, 20, 4, 100, 200),
    "demo": SiteSize("demo", 2_000, 5_000, 300_000, 40, 8, 250, 500),
    # The paper's Table 2: 215,394 users, 1,882,675 illustrations, ~33.7 M interactions.
    "paper": SiteSize("paper", 215_394, 1_882_675, 28_400_000, 120, 10, 4_000, 40_000),
}


def rng_for(seed: int, *key: object) -> np.random.Generator:
    """A generator keyed by (seed, key...): same key, same stream, on any machine."""
    digest = hashlib.sha256(repr((seed,) + key).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


@dataclass(frozen=True)
class Catalog:
    """Fictional series, their characters and setting terms, each named in EN/JA/ZH."""

    series: list[tuple[str, str, str]]
    series_genre: list[str]
    characters: list[list[tuple[str, str, str]]]  # [series][k] -> names
    settings: list[list[tuple[tuple[str, str, str], str]]]  # [series][k] -> (names, meaning)


@functools.lru_cache(maxsize=4)
def build_catalog(size: SiteSize, seed: int) -> Catalog:
    rng = rng_for(seed, "catalog")
    used: set[str] = set()
    series: list[tuple[str, str, str]] = []
    genres: list[str] = []
    characters: list[list[tuple[str, str, str]]] = []
    settings: list = []
    while len(series) < size.n_series:
        a, b = rng.choice(len(lexicon.TITLE_WORDS), 2, replace=False)
        wa, wb = lexicon.TITLE_WORDS[a], lexicon.TITLE_WORDS[b]
        name = (f"{wa[0]} {wb[0]}", f"{wa[1]}の{wb[1]}", f"{wa[2]}之{wb[2]}")
        if name[0] in used:
            continue
        used.add(name[0])
        series.append(name)
        genres.append(str(rng.choice(lexicon.GENRES)))
    for s in range(size.n_series):
        chars: list[tuple[str, str, str]] = []
        while len(chars) < size.chars_per_series:
            given = lexicon.join_name(
                [lexicon.SYLLABLES[j] for j in rng.integers(0, len(lexicon.SYLLABLES), rng.integers(2, 4))]
            )
            family = lexicon.join_name(
                [lexicon.SYLLABLES[j] for j in rng.integers(0, len(lexicon.SYLLABLES), rng.integers(2, 4))]
            )
            name = (f"{family[0]} {given[0]}", f"{family[1]}{given[1]}", f"{family[2]}{given[2]}")
            if name[0] in used:
                continue
            used.add(name[0])
            chars.append(name)
        characters.append(chars)
        kinds = rng.choice(len(lexicon.SETTING_KINDS), 2, replace=False)
        terms = []
        for k in kinds:
            word, meaning = lexicon.SETTING_KINDS[k]
            w = lexicon.TITLE_WORDS[rng.integers(len(lexicon.TITLE_WORDS))]
            names = (f"{w[0]} {word}", f"{w[1]}の{word}", f"{w[2]}{word}")
            terms.append((names, meaning.format(series=series[s][0])))
        settings.append(terms)
    return Catalog(series, genres, characters, settings)


@dataclass(frozen=True)
class ItemArrays:
    """Per-illustration attributes, indexed by item index (= publication order).

    All arrays have shape [n_items]. `series` is -1 for original works, `character` is the
    character's index within its series (-1 when none), `published` is epoch seconds (UTC).
    """

    style: np.ndarray
    subject: np.ndarray
    series: np.ndarray
    character: np.ndarray
    artist: np.ndarray
    published: np.ndarray
    popularity: np.ndarray
    quality: np.ndarray
    artist_language: np.ndarray


@functools.lru_cache(maxsize=4)
def build_items(size: SiteSize, seed: int) -> ItemArrays:
    rng = rng_for(seed, "items")
    n = size.n_items
    n_artists = max(20, n // 8)
    artist_style = rng.integers(0, N_STYLES, n_artists)
    artist_language = rng.choice(3, n_artists, p=[0.25, 0.55, 0.20])
    artist_weight = rng.pareto(1.5, n_artists) + 1.0
    artist = rng.choice(n_artists, n, p=artist_weight / artist_weight.sum())
    style = np.where(rng.random(n) < 0.75, artist_style[artist], rng.integers(0, N_STYLES, n))
    series = np.where(rng.random(n) < 0.7, rng.integers(0, size.n_series, n), -1)
    character = np.where(series >= 0, rng.integers(0, size.chars_per_series, n), -1)
    published = np.sort(rng.integers(FIRST_PUBLISHED, YEAR_END - DAY, n))
    return ItemArrays(
        style=style.astype(np.int16),
        subject=rng.integers(0, N_SUBJECTS, n).astype(np.int16),
        series=series.astype(np.int32),
        character=character.astype(np.int32),
        artist=artist.astype(np.int64),
        published=published.astype(np.int64),
        popularity=rng.lognormal(0.0, 1.4, n).astype(np.float64),
        quality=rng.normal(0.0, 0.35, n).astype(np.float32),
        artist_language=artist_language[artist].astype(np.int8),
    )


@dataclass(frozen=True)
class UserBlock:
    """Users [start, start+n) of one block. Taste arrays are [n, N_STYLES|N_SUBJECTS|n_series]."""

    start: int
    taste_style: np.ndarray
    taste_subject: np.ndarray
    taste_series: np.ndarray
    bias: np.ndarray
    activity: np.ndarray
    joined: np.ndarray
    language: np.ndarray


ACTIVITY_SIGMA = 1.1


def _tastes(rng: np.random.Generator, n: int, k: int, favourites: int, boost: float, sd: float) -> np.ndarray:
    taste = rng.normal(0.0, sd, (n, k))
    fav = np.argsort(rng.random((n, k)), axis=1)[:, :favourites]
    np.put_along_axis(taste, fav, np.take_along_axis(taste, fav, 1) + boost, 1)
    return taste.astype(np.float32)


def build_user_block(size: SiteSize, seed: int, block: int) -> UserBlock:
    start = block * size.users_per_block
    n = min(size.users_per_block, size.n_users - start)
    rng = rng_for(seed, "users", block)
    joined = np.where(rng.random(n) < 0.15, rng.integers(YEAR_START, YEAR_END - 30 * DAY, n), YEAR_START)
    return UserBlock(
        start=start,
        taste_style=_tastes(rng, n, N_STYLES, 2, 1.6, 0.5),
        taste_subject=_tastes(rng, n, N_SUBJECTS, 3, 1.2, 0.4),
        taste_series=_tastes(rng, n, size.n_series, 2, 1.8, 0.3),
        bias=rng.normal(0.0, 0.4, n).astype(np.float32),
        activity=rng.lognormal(0.0, ACTIVITY_SIGMA, n),
        joined=joined.astype(np.int64),
        language=rng.choice(3, n, p=[0.3, 0.5, 0.2]).astype(np.int8),
    )


def bookmark_probability(users: UserBlock, local_user: np.ndarray, items: ItemArrays, item: np.ndarray) -> np.ndarray:
    """The oracle: P(bookmark | view) for views (local_user[v], item[v]); shape [n_views]."""
    series = items.series[item]
    series_taste = np.where(series >= 0, users.taste_series[local_user, np.maximum(series, 0)], 0.0)
    log_pop = np.log(items.popularity[item]) - 0.0  # lognormal(0, .) has log-mean 0
    logit = (
        BASE
        + users.bias[local_user]
        + W_STYLE * users.taste_style[local_user, items.style[item]]
        + W_SUBJECT * users.taste_subject[local_user, items.subject[item]]
        + W_SERIES * series_taste
        + W_POP * log_pop
        + items.quality[item]
    )
    return 1.0 / (1.0 + np.exp(-logit))


def n_user_blocks(size: SiteSize) -> int:
    return -(-size.n_users // size.users_per_block)


def n_item_blocks(size: SiteSize) -> int:
    return -(-size.n_items // size.items_per_block)


def views_per_activity(size: SiteSize) -> float:
    """Scale turning a user's `activity` into an expected view count, so totals hit `n_views`.

    `activity` is lognormal(0, ACTIVITY_SIGMA), whose mean is exp(sigma^2 / 2).
    """
    return size.n_views / (size.n_users * float(np.exp(ACTIVITY_SIGMA**2 / 2)))


USER_ID_OFFSET = 1_000_000
ILLUST_ID_OFFSET = 80_000_000


def user_id(index: np.ndarray | int) -> np.ndarray:
    """Site ids are numeric strings: user index 0 is "1000000"."""
    return np.char.mod("%d", np.asarray(index) + USER_ID_OFFSET)


def illust_id(index: np.ndarray | int) -> np.ndarray:
    """Illustration ids grow with publication time: item index 0 is "80000000"."""
    return np.char.mod("%d", np.asarray(index) + ILLUST_ID_OFFSET)
