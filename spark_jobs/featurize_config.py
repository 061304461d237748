"""Typed configuration of `umair featurize` (TABLES.yaml): which tables, which label, which features,
which split. Unknown keys and impossible combinations are errors naming the key, before Spark starts.
`deploy/configs/tables_movielens.yaml` is a complete example.

    interactions: {path: ratings.csv, format: csv, options: {sep: "\t"}, columns: [user_id, item_id, rating, ts]}
    users: {path: users.csv, key: user_id}        # optional side tables, joined on `key`
    items: {path: items.csv, key: item_id}
    label: {column: rating, rule: ">= 4"}         # or {column: clicked}: 0 / 1 as given
    timestamp: {column: ts, unit: s}              # s | ms | us (epoch numbers), "" (a timestamp or ISO text)
    user_column: user_id                          # per-user GAUC groups by it
    split: {by: time, valid: 0.1, test: 0.1}      # time (fractions or dates) | random (fractions, seed) | given
    features:
      - {name: user_id, kind: categorical, group: user}
      - {name: genres, kind: multi_categorical, sep: "|", max_len: 6, group: item}
      - {name: age, kind: numeric, transform: bucketize, boundaries: [18, 25, 35, 45, 56], group: user}
      - {name: hour, kind: timestamp, part: hour}
    item_content:                                 # optional: what `umair embed` encodes per item
      image: poster                               # items column: an image path or URI
      image_root: posters/                        # relative image paths resolve against it
      text: [title, "split(genres, '[|]')"]      # Spark SQL expressions: text or lists of text
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from umair_models.config_files import ConfigError, load_dataclass
from umair_models.features import Group  # a TABLES.yaml that cannot be run; the message names the key

FORMATS = ("auto", "parquet", "csv", "json", "delta")
KINDS = ("categorical", "multi_categorical", "numeric", "timestamp")
GROUPS = ("user", "item", "context")
TRANSFORMS = ("standardize", "bucketize")
PARTS = ("hour", "weekday", "month", "year")
UNITS = ("", "s", "ms", "us")
RULES = (">=", ">", "<=", "<", "==", "!=")
SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Source:
    """A table: a file, a folder of files or a Delta table. `path` may be {train, valid, test} for
    interactions split `given`. Relative paths are relative to the YAML file."""

    path: str | dict[str, str]
    format: str = "auto"
    options: dict[str, Any] = field(default_factory=dict)  # Spark reader options, e.g. {sep: "\t", header: true}
    columns: list[str] = field(default_factory=list)  # names for a CSV without a header (in order)
    key: str = ""  # side tables: the join key, a column of both tables

    def check(self, where: str) -> Source:
        if self.format not in FORMATS:
            raise ConfigError(f"{where}.format: one of {FORMATS}, not {self.format!r}")
        if isinstance(self.path, dict) and set(self.path) != set(SPLITS):
            raise ConfigError(f"{where}.path: a mapping needs exactly {list(SPLITS)}, got {sorted(self.path)}")
        return self

    def paths(self, root: Path) -> dict[str, str]:
        """{"all": path} or {split: path}, resolved against `root`."""
        given = self.path if isinstance(self.path, dict) else {"all": self.path}
        return {k: v if "://" in v or Path(v).is_absolute() else str((root / v).resolve()) for k, v in given.items()}


@dataclass(frozen=True)
class Label:
    column: str
    rule: str = ""  # "<op> <number>", e.g. ">= 4"; empty: the column must hold 0 / 1

    def parsed(self) -> tuple[str, float] | None:
        if not self.rule:
            return None
        for op in RULES:  # two-character operators first
            if self.rule.strip().startswith(op):
                try:
                    return op, float(self.rule.strip()[len(op) :])
                except ValueError:
                    break
        raise ConfigError(f"label.rule: '<op> <number>' with op in {RULES}, not {self.rule!r}")


@dataclass(frozen=True)
class Timestamp:
    column: str
    unit: str = ""


@dataclass(frozen=True)
class Feature:
    """One output column. `column` (default: `name`) or `expr` (a Spark SQL expression over the
    joined row) gives its raw value."""

    name: str
    kind: str
    column: str = ""
    expr: str = ""
    group: Group = "context"
    sep: str = ""  # multi_categorical given as a delimited string
    max_len: int = 0  # multi_categorical: indices kept per row (longer lists are cut)
    min_count: int | None = None  # categorical kinds: values seen fewer times in train are OOV (0)
    transform: str = "standardize"  # numeric
    boundaries: list[float] = field(default_factory=list)  # numeric bucketize: fixed edges
    buckets: int = 0  # numeric bucketize: this many quantile buckets fitted on train
    part: str = ""  # timestamp: hour | weekday | month | year of the event time

    @property
    def source(self) -> str:
        return self.column or self.name

    @property
    def categorical(self) -> bool:
        """Indexed through the vocabulary (everything but standardized numbers)."""
        return not (self.kind == "numeric" and self.transform == "standardize")

    def check(self, where: str) -> Feature:
        if self.kind not in KINDS:
            raise ConfigError(f"{where}.kind: one of {KINDS}, not {self.kind!r}")
        if self.group not in GROUPS:
            raise ConfigError(f"{where}.group: one of {GROUPS}, not {self.group!r}")
        if self.kind == "multi_categorical" and self.max_len < 1:
            raise ConfigError(f"{where}: multi_categorical needs max_len >= 1")
        if self.kind == "numeric" and self.transform not in TRANSFORMS:
            raise ConfigError(f"{where}.transform: one of {TRANSFORMS}, not {self.transform!r}")
        if self.kind == "numeric" and self.transform == "bucketize" and not (self.boundaries or self.buckets > 1):
            raise ConfigError(f"{where}: bucketize needs `boundaries` or `buckets` >= 2")
        if self.kind == "timestamp" and self.part not in PARTS:
            raise ConfigError(f"{where}.part: one of {PARTS}, not {self.part!r}")
        return self


@dataclass(frozen=True)
class Split:
    by: str = "time"  # time | random | given
    valid: float = 0.1  # fractions (time: of the time range's rows, by quantile; random: of rows)
    test: float = 0.1
    valid_start: str = ""  # time: explicit boundaries (ISO dates) instead of fractions
    test_start: str = ""
    seed: int = 0  # random

    def check(self) -> Split:
        if self.by not in ("time", "random", "given"):
            raise ConfigError(f"split.by: time, random or given, not {self.by!r}")
        if bool(self.valid_start) != bool(self.test_start):
            raise ConfigError("split: give both valid_start and test_start, or neither")
        if not (0 <= self.valid < 1 and 0 < self.test < 1 and self.valid + self.test < 1):
            raise ConfigError("split: need 0 <= valid, 0 < test, valid + test < 1")
        return self


@dataclass(frozen=True)
class ItemContent:
    """The item table's content for the encoders: featurize writes LAKE/items (item_idx, illust_id =
    the item key as text, image_uri, tags) from it, which `umair embed` turns into item_features."""

    image: str = ""  # Spark SQL expression (a column name is one) giving an image path or URI
    image_root: str = ""  # folder or URI prefix for relative image paths (default: the YAML's folder)
    text: list[str] = field(default_factory=list)  # Spark SQL expressions: text, or lists of text

    def check(self) -> ItemContent:
        if not (self.image or self.text):
            raise ConfigError("item_content: give `image`, `text` or both")
        if not isinstance(self.text, list) or not all(isinstance(t, str) and t for t in self.text):
            raise ConfigError("item_content.text: a list of column names or Spark SQL expressions")
        return self

    def image_prefix(self, root: Path) -> str:
        """Absolute folder or URI prefix (ending in '/') that relative image paths are joined to."""
        base = self.image_root or "."
        if "://" not in base and not Path(base).is_absolute():
            base = str((root / base).resolve())
        return base.rstrip("/") + "/"


@dataclass(frozen=True)
class FeaturizeConfig:
    interactions: Source
    label: Label
    features: list[Feature]
    users: Source | None = None
    items: Source | None = None
    timestamp: Timestamp | None = None
    user_column: str = ""
    split: Split = field(default_factory=Split)
    min_count: int = 1
    item_content: ItemContent | None = None
    root: str = "."  # folder relative paths are resolved against (the YAML's)

    @classmethod
    def from_dict(cls, data: dict[str, Any], root: str | Path = ".") -> FeaturizeConfig:
        if not isinstance(data, dict):
            raise ConfigError("TABLES.yaml: expected a mapping at the top")
        known = {f.name for f in fields(cls)} - {"root"}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown keys {sorted(unknown)}; known: {sorted(known)}")
        for required in ("interactions", "label", "features"):
            if required not in data:
                raise ConfigError(f"`{required}` is required")
        features = [
            load_dataclass(Feature, f, f"features[{i}]").check(f"features[{i}]") for i, f in enumerate(data["features"])
        ]
        names = [f.name for f in features]
        if len(set(names)) != len(names) or not features:
            raise ConfigError(f"features: need at least one, names unique; got {names}")
        config = cls(
            interactions=load_dataclass(Source, data["interactions"], "interactions").check("interactions"),
            label=load_dataclass(Label, data["label"], "label"),
            features=features,
            users=load_dataclass(Source, data["users"], "users").check("users") if data.get("users") else None,
            items=load_dataclass(Source, data["items"], "items").check("items") if data.get("items") else None,
            timestamp=load_dataclass(Timestamp, data["timestamp"], "timestamp") if data.get("timestamp") else None,
            user_column=data.get("user_column", ""),
            split=load_dataclass(Split, data.get("split", {}), "split").check(),
            min_count=int(data.get("min_count", 1)),
            item_content=(
                load_dataclass(ItemContent, data["item_content"], "item_content").check()
                if data.get("item_content")
                else None
            ),
            root=str(Path(root).resolve()),
        )
        config.label.parsed()
        for side in ("users", "items"):
            source = getattr(config, side)
            if source is not None and not source.key:
                raise ConfigError(f"{side}.key: the join key is required")
        if config.item_content and config.items is None:
            raise ConfigError("item_content: needs the `items` table it describes")
        if config.item_content and "item_idx" in names:
            raise ConfigError("features: `item_idx` is the catalogue index item_content writes; rename the feature")
        if config.timestamp and config.timestamp.unit not in UNITS:
            raise ConfigError(f"timestamp.unit: one of {UNITS}, not {config.timestamp.unit!r}")
        needs_time = config.split.by == "time" or any(f.kind == "timestamp" for f in features)
        if needs_time and config.timestamp is None:
            raise ConfigError("`timestamp` is required for a time split and for timestamp features")
        given = isinstance(config.interactions.path, dict)
        if given != (config.split.by == "given"):
            raise ConfigError("split.by given <=> interactions.path is {train, valid, test}")
        return config

    @classmethod
    def from_yaml(cls, path: str | Path, data_root: str | Path | None = None) -> FeaturizeConfig:
        """`data_root`: the folder relative paths are resolved against (default: the YAML's folder)."""
        data = yaml.safe_load(Path(path).read_text())
        try:
            return cls.from_dict(data, data_root or Path(path).parent)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from e

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
