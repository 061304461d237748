"""The text-pair corpus in the paper's three perspectives (Table 1).

- multilingual: the same entity named in two languages (EN-JA, JA-ZH, ZH-EN);
- relation: "<series>'s character" -> character, "<character>'s friend" -> another character;
- explanation: series -> its introduction, setting term -> its meaning.
Plus a few dirty pairs (empty anchor, exact duplicate) that preprocessing must clean.
"""

from __future__ import annotations

import pyarrow as pa

from spark_jobs.site import lexicon, world

LANG_PAIRS = ((0, 1), (1, 2), (2, 0))


def text_pairs(size: world.SiteSize, seed: int) -> tuple[pa.Table, dict[str, int]]:
    cat = world.build_catalog(size, seed)
    rng = world.rng_for(seed, "corpus")
    rows: list[tuple[str | None, str, str]] = []
    entities: list[tuple[str, str, str]] = list(cat.series) + [c for cs in cat.characters for c in cs]
    entities += [t[0] for ts in cat.settings for t in ts] + list(lexicon.SUBJECT_WORDS)
    for names in entities:
        for a, b in LANG_PAIRS:
            if names[a] != names[b]:
                rows.append((names[a], names[b], "multilingual"))
    for s, chars in enumerate(cat.characters):
        for k, c in enumerate(chars):
            lang = int(rng.integers(0, 3))
            rows.append((f"{cat.series[s][lang]}'s character", c[int(rng.integers(0, 3))], "relation"))
            friend = chars[(k + 1) % len(chars)]
            rows.append((f"{c[lang]}'s friend", friend[int(rng.integers(0, 3))], "relation"))
        leads = " and ".join(c[0] for c in chars[:2])
        rows.append(
            (
                cat.series[s][0],
                f"{cat.series[s][0]} is a {cat.series_genre[s]} series that tells the story of {leads}.",
                "explanation",
            )
        )
        for names, meaning in cat.settings[s]:
            rows.append((names[0], f"{names[0]} is {meaning}.", "explanation"))
    rows = list(dict.fromkeys(rows))  # distinct entities can share a name: keep the corpus itself clean
    dirty = {"empty_anchor": 1, "duplicate_pair": 1}
    rows.append((None, rows[0][1], "multilingual"))
    rows.append(rows[1])
    order = rng.permutation(len(rows))
    rows = [rows[i] for i in order]
    table = pa.table(
        {
            "anchor": pa.array([r[0] for r in rows], pa.string()),
            "positive": pa.array([r[1] for r in rows], pa.string()),
            "perspective": pa.array([r[2] for r in rows], pa.string()),
        }
    )
    return table, dirty
