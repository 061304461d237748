"""The random-modality control: does a model given an item vector that carries nothing stay as good?

A control only, never a default. `umair compare --random-modality umair_fps,dcn_v2` trains those
models once more with LAKE/item_features_random: the vectors `embed` wrote plus one more modality,
`e_rand`, a fixed Gaussian vector per item (seed 0, as wide as the widest learned modality, present
for every item, as a text vector is). It predicts nothing, so a model that uses its vectors well must rank
as well with it as without it; the report's "## Vectors never hurt" section gives the difference
with its seed noise. UMAIR-FPS takes `e_rand` as a fourth item vector in UMCM; a baseline takes it
as one more `+MM` field.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ray_apps.encoders.item_features import ItemVectors, to_blob
from ray_apps.lake import read_table
from umair_models import storage

TABLE = "item_features_random"
FIELD = "e_rand"
SUFFIX = "rand"  # run folders: <model>[__+MM]__rand[__seedN]
SEED = 0


def write_random_modality(lake: str, items: ItemVectors) -> tuple[str, dict[str, int]]:
    """LAKE/item_features_random: `items`' table with the column e_rand added; -> its location and its
    vectors' widths (name -> width, e_rand included).

    e_rand [num rows, max width] float16 ~ N(0, 1) from a fixed seed: the same vectors on every call."""
    from deltalake import write_deltalake

    if not items.vectors:
        raise ValueError(f"{items.table}: no item vectors to add a random modality to")
    table = read_table(items.table)
    width = max(items.vectors.values())
    noise = np.random.default_rng(SEED).standard_normal((table.num_rows, width)).astype(np.float16)
    table = table.append_column(FIELD, pa.array(to_blob(noise), pa.binary()))
    out = storage.join(storage.absolute(lake), TABLE)
    write_deltalake(out, table, mode="overwrite", schema_mode="overwrite")
    return out, {**items.vectors, FIELD: width}


def vectors_never_hurt(rows: list[tuple[str, str, str, str]]) -> list[str]:
    """The report section from (label, AUC without, AUC with the random vector, difference) per model."""
    lines = [
        "## Vectors never hurt",
        "",
        f"Each model once more with one more item vector, `{FIELD}`, that is noise (a fixed Gaussian vector per "
        "item, a control): a model that uses its item vectors well ranks as well with it as without it.",
        "",
        "| Model | test AUC | with a random item vector | difference |",
        "|---|---|---|---|",
    ]
    return lines + [f"| {label} | {without} | {with_noise} | {diff} |" for label, without, with_noise, diff in rows]
