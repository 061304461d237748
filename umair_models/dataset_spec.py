"""The dataset spec, `LAKE/dataset.yaml`: what a ranker trains on, written by the Spark job that made
the tables (`prep` for our lake, `featurize` for a user's) and read by the Ray side. This module is
its one writer and one reader; it imports neither Spark nor Ray.

    tables: {train: interactions_train, valid: interactions_valid, test: interactions_test}  # relative to the lake
    label: label
    user_column: user_id          # optional: per-user GAUC groups by it
    vocab_table: vocab            # lets a feature say `vocab: <feature>` for its size
    features:
      - {name: gender_idx, kind: categorical, vocab: gender, group: user}
      - {name: tags_idx, kind: multi_categorical, vocab: tag, max_len: 16, group: item}
      - {name: price, kind: numeric}
    item_features:                # optional: frozen per-item vectors (UMAIR-FPS modalities)
      {table: item_features, key: item_idx, num_items: 5000, present: ok}   # widths: from the table embed wrote

Sizes are facts of the lake, never copied by hand: a `vocab: X` feature gets its size from the lake's
vocabulary when read, and without `vectors` the widths come from the item_features table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from umair_models import storage
from umair_models.config_files import ConfigError, StrictModel, load_model
from umair_models.features import FeatureSpec, FieldSpec, Group, Kind

FILE_NAME = "dataset.yaml"
SPLITS = ("train", "valid", "test")


class FeatureEntry(StrictModel):
    """One input column. `vocab` names the vocabulary feature that sizes it (read from the lake);
    `vocab_size` gives the size itself (a table without a vocabulary)."""

    name: str
    kind: Kind
    vocab: str | None = None
    vocab_size: int | None = None
    max_len: int | None = None
    dim: int | None = None
    group: Group = "context"


class ItemFeaturesEntry(StrictModel):
    """Where the frozen per-item vectors live; `vectors` (name -> width) only for a table whose widths
    cannot be read from it."""

    table: str
    key: str = "item_idx"
    num_items: int
    vectors: dict[str, int] | None = None
    present: str | None = "ok"


class DatasetSpec(StrictModel):
    tables: dict[str, str]
    label: str = "label"
    user_column: str | None = None
    vocab_table: str | None = None
    features: list[FeatureEntry]
    item_features: ItemFeaturesEntry | None = None


def parse(text: str, source: str) -> DatasetSpec:
    """A dataset.yaml's text as a DatasetSpec; ConfigError naming `source` and the bad keys."""
    spec = load_model(DatasetSpec, yaml.safe_load(text), source)
    if "train" not in spec.tables:
        raise ConfigError(f"{source}: tables.train is required (tables: {sorted(spec.tables)})")
    return spec


def dump(spec: DatasetSpec, header: str) -> str:
    """The YAML text of a spec, after a `# header` line saying which run wrote it."""
    body: dict[str, Any] = spec.model_dump(exclude_none=True)
    body["features"] = [f.model_dump(exclude_none=True) for f in spec.features]
    return f"# {header}\n" + yaml.safe_dump(body, sort_keys=False, allow_unicode=True)


def write(spec: DatasetSpec, folder: str | Path, header: str) -> str:
    """FOLDER/dataset.yaml, FOLDER a local path or an object-store URI; -> where it was written."""
    path = storage.join(storage.absolute(folder), FILE_NAME)
    storage.write_text(path, dump(spec, header))
    return path


def sized(
    name: str, kind: Kind, vocab_feature: str, vocab_sizes: dict[str, int], group: Group, **more: Any
) -> FeatureEntry:
    """A categorical entry sized by reference to its vocabulary; a feature whose vocabulary is empty
    has only the OOV index (vocab_size 2: index 0 plus one never used)."""
    size = {"vocab": vocab_feature} if vocab_sizes.get(vocab_feature) else {"vocab_size": 2}
    return FeatureEntry(name=name, kind=kind, group=group, **size, **more)


# Our lake's interaction columns: column -> (vocabulary feature, group).
ILLUSTRATION_CATEGORICAL: dict[str, tuple[str, Group]] = {
    "user_idx": ("user_id", "user"),
    "gender_idx": ("gender", "user"),
    "age_idx": ("age", "user"),
    "region_idx": ("region", "user"),
    "language_idx": ("language", "user"),
    "item_id_idx": ("illust_id", "item"),
    "artist_idx": ("artist_id", "item"),
    "type_idx": ("type", "item"),
    "x_restrict_idx": ("x_restrict", "item"),
    "ai_generated_idx": ("ai_generated", "item"),
    "pages_idx": ("pages", "item"),
    "aspect_idx": ("aspect", "item"),
    "has_image_idx": ("has_image", "item"),
    "item_age_idx": ("item_age", "context"),
}
ILLUSTRATION_MULTI: dict[str, tuple[str, Group]] = {
    "interest_tags_idx": ("tag", "user"),
    "tags_idx": ("tag", "item"),
}


def illustration_dataset(vocab_sizes: dict[str, int], max_lens: dict[str, int], num_items: int) -> DatasetSpec:
    """The spec of a lake `prep` built: every index column of interactions_{train,valid,test}, the
    padded lengths prep cut the tag lists to (`max_lens`: column -> L), and the item catalogue's
    vectors (item_idx 1..num_items) once `embed` has written item_features."""
    missing = sorted(set(ILLUSTRATION_MULTI) - set(max_lens))
    if missing:
        raise ValueError(f"max_lens needs the padded length of {missing}")
    features = [sized(c, "categorical", v, vocab_sizes, g) for c, (v, g) in ILLUSTRATION_CATEGORICAL.items()]
    features += [
        sized(c, "multi_categorical", v, vocab_sizes, g, max_len=max_lens[c])
        for c, (v, g) in ILLUSTRATION_MULTI.items()
    ]
    return DatasetSpec(
        tables={s: f"interactions_{s}" for s in SPLITS},
        label="label",
        user_column="user_id",
        vocab_table="vocab",
        features=features,
        item_features=ItemFeaturesEntry(table="item_features", num_items=num_items),
    )


def feature_spec(
    spec: DatasetSpec,
    vocab_sizes: dict[str, int],
    source: str,
    max_lens: dict[str, int] | None = None,
    vectors: dict[str, int] | None = None,
) -> FeatureSpec:
    """The model's FeatureSpec of a dataset spec, given the lake's facts: `vocab_sizes` (vocabulary
    feature -> number of values V; the field gets V + 1 indices), `max_lens` (padded length of a
    multi-valued column whose entry has none) and `vectors` (item-vector name -> width; None: no item
    vectors, e.g. before `embed` ran)."""
    fields = []
    for entry in spec.features:
        raw = entry.model_dump(exclude_none=True)
        if "vocab" in raw:
            feature = raw.pop("vocab")
            if feature not in vocab_sizes:
                raise ConfigError(
                    f"{source}: field {entry.name!r} names vocab {feature!r}, not in the lake's vocabulary"
                )
            raw["vocab_size"] = vocab_sizes[feature] + 1
        if entry.kind == "multi_categorical" and "max_len" not in raw and entry.name in (max_lens or {}):
            raw["max_len"] = (max_lens or {})[entry.name]  # the length the lake's job padded the column to
        fields.append(FieldSpec(**raw))
    items = spec.item_features
    if items is not None and vectors is not None:
        if items.key not in [f.name for f in fields]:
            fields.append(FieldSpec(items.key, "index", vocab_size=items.num_items + 1, group="item"))
        fields += [FieldSpec(n, "pretrained", dim=d, group="item", lookup=items.key) for n, d in vectors.items()]
    return FeatureSpec(fields, spec.label)
