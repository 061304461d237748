"""A user's own tables, written by the tests: ratings in CSV, users in Parquet (pandas), items in
JSON lines (with titles and poster images for `item_content`), with planted problems whose rejects /
OOV counts the tests know in advance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

N_USERS, N_ITEMS, N_EVENTS = 60, 40, 600
T0 = 1_700_000_000  # epoch seconds of the first event
LATE_ITEM = "i39"  # only rated in the last 5% of the time range: unseen in train, OOV in test
GENRES = ["Action", "Comedy", "Drama", "Horror", "Romance"]

BAD_EVENTS = {  # planted rows -> the reject reason featurize must give them
    "label not a number (rating)": {"rating": "abc"},
    "missing label (rating)": {"rating": ""},
    "timestamp not parseable (ts)": {"ts": "yesterday"},
    "not a finite number (price)": {"price": "NaN"},
    "not UTF-8": {"item_id": "i1" + "@NOT-UTF8@"},  # replaced by Latin-1 bytes once written
    "text over 10000 characters (item_id)": {"item_id": "i" * 10_001},
}
NOT_UTF8 = (b"@NOT-UTF8@", b"\xe9t\xe9")
POSTERS = {  # item -> what its poster is: a PNG (relative path), an absolute path, broken bytes, no file
    **{f"i{i}": "png" for i in range(8)},
    "i8": "absolute png",
    "i9": "corrupt",
    "i10": "missing file",
}  # the other items have no poster field at all


def _write_posters(folder: Path, rng: np.random.Generator) -> dict[str, str]:
    """Write posters/ under `folder`; -> item -> the `poster` value its row carries."""
    from PIL import Image

    (folder / "posters").mkdir(exist_ok=True)
    values = {}
    for item, kind in POSTERS.items():
        name = f"posters/{item}.png"
        if kind in ("png", "absolute png"):
            Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(folder / name)
        elif kind == "corrupt":
            (folder / name).write_bytes(b"\x89PNG not really")
        values[item] = str(folder / name) if kind == "absolute png" else name
    return values


def write_own_tables(folder: Path) -> dict:
    """Write interactions.csv, users.parquet, items.jsonl and tables.yaml under `folder`; -> facts."""
    rng = np.random.default_rng(3)
    folder.mkdir(parents=True, exist_ok=True)
    users = pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(N_USERS)],
            "gender": rng.choice(["M", "F"], N_USERS),
            "age": rng.integers(15, 60, N_USERS),
            "occupation": rng.choice(
                ["artist", "doctor", "student", "writer", "rare"], N_USERS, p=[0.3, 0.3, 0.3, 0.08, 0.02]
            ),
            "zip": [f"{rng.integers(10000, 99999)}" for _ in range(N_USERS)],
            "joined": pd.to_datetime(T0 - rng.integers(0, 10**7, N_USERS), unit="s"),  # pandas ns timestamps
        }
    )
    # users u55..u59 get no side row (interactions keep OOV user features); u3 twice; one row without a key
    side_users = pd.concat([users.iloc[:55], users.iloc[[3]], users.iloc[[4]].assign(user_id=None)], ignore_index=True)
    side_users.to_parquet(folder / "users.parquet")

    posters = _write_posters(folder, np.random.default_rng(5))  # own stream: events stay as they were
    items = [
        {
            "item_id": f"i{i}",
            "title": f"Title {i}",
            "genres": "|".join(rng.choice(GENRES, rng.integers(1, 4), replace=False)),
            "year": int(rng.integers(1970, 2020)),
            **({"poster": posters[f"i{i}"]} if f"i{i}" in posters else {}),
        }
        for i in range(N_ITEMS)
    ]
    lines = [json.dumps(it) for it in items] + ['{"item_id": "i_broken", "genres": ']  # one unparseable line
    (folder / "items.jsonl").write_text("\n".join(lines) + "\n")

    early_items = [f"i{i}" for i in range(N_ITEMS - 1)]
    ts = T0 + np.arange(N_EVENTS) * 3600 + rng.integers(0, 3000, N_EVENTS)  # unique, increasing
    late = np.arange(N_EVENTS) >= int(N_EVENTS * 0.95)
    events = pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in rng.integers(0, N_USERS, N_EVENTS)],
            "item_id": np.where(late & (rng.random(N_EVENTS) < 0.5), LATE_ITEM, rng.choice(early_items, N_EVENTS)),
            "rating": rng.integers(1, 6, N_EVENTS).astype(str),
            "ts": ts.astype(str),
            "price": np.round(rng.random(N_EVENTS) * 10, 2).astype(str),
        }
    )
    bad = pd.DataFrame([{**events.iloc[i].to_dict(), **change} for i, change in enumerate(BAD_EVENTS.values())])
    pd.concat([events, bad], ignore_index=True).to_csv(folder / "interactions.csv", index=False)
    csv_bytes = (folder / "interactions.csv").read_bytes()
    (folder / "interactions.csv").write_bytes(csv_bytes.replace(*NOT_UTF8))

    tables = {
        "interactions": {"path": "interactions.csv"},
        "users": {"path": "users.parquet", "key": "user_id"},
        "items": {"path": "items.jsonl", "key": "item_id"},
        "label": {"column": "rating", "rule": ">= 4"},
        "timestamp": {"column": "ts", "unit": "s"},
        "user_column": "user_id",
        "split": {"by": "time", "valid": 0.1, "test": 0.1},
        "features": [
            {"name": "user_id", "kind": "categorical", "group": "user"},
            {"name": "gender", "kind": "categorical", "group": "user"},
            {"name": "age", "kind": "numeric", "transform": "bucketize", "boundaries": [20, 30, 40], "group": "user"},
            {"name": "occupation", "kind": "categorical", "min_count": 10, "group": "user"},
            {"name": "zip3", "kind": "categorical", "expr": "substring(zip, 1, 3)", "group": "user"},
            {"name": "item_id", "kind": "categorical", "group": "item"},
            {"name": "genres", "kind": "multi_categorical", "sep": "|", "max_len": 3, "group": "item"},
            {"name": "year", "kind": "numeric", "group": "item"},
            {"name": "price", "kind": "numeric", "group": "context"},
            {"name": "hour", "kind": "timestamp", "part": "hour"},
        ],
        "item_content": {"image": "poster", "text": ["title", "split(genres, '[|]')"]},
    }
    (folder / "tables.yaml").write_text(yaml.safe_dump(tables, sort_keys=False))
    return {
        "events": events,
        "users_without_row": {f"u{i}" for i in range(55, N_USERS)},
        "items": {it["item_id"]: it for it in items},
        "folder": folder,
        "config": folder / "tables.yaml",
    }
