"""Feature specification: what each input column is, compiled once into embedding layers.

A FeatureSpec describes any CTR table: categorical fields (an integer index, 0 = OOV), multi-valued
categorical fields (a padded list of indices, 0 = padding, mean-pooled), numeric fields and
pretrained item vectors looked up by an index field from a frozen table (the `item_features`
modalities). Built from a dict / YAML file or, by the training job, from the lake's `vocab`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from umair_models.config_files import ConfigError, load_dataclass

Kind = Literal["categorical", "multi_categorical", "numeric", "pretrained", "index"]
Group = Literal["user", "item", "context"]
KINDS = ("categorical", "multi_categorical", "numeric", "pretrained", "index")


@dataclass(frozen=True)
class FieldSpec:
    """One input column.

    vocab_size: categorical kinds, number of indices including 0 (OOV / padding).
    max_len:    multi_categorical, padded list length L.
    dim:        numeric width (1 for a scalar) or pretrained vector width.
    group:      whose attribute it is; UMAIR-FPS builds v_user from the `user` group and the
                metadata modality F_emb(i^O) from the `item` group.
    lookup:     pretrained only, the categorical or index field whose value selects the table row.

    kind "index" is a row key (e.g. the item catalogue index) used only to look up pretrained
    vectors; it is never embedded. Its vocab_size is the number of rows (0 = unknown item).
    """

    name: str
    kind: Kind
    vocab_size: int = 0
    max_len: int = 0
    dim: int = 1
    group: Group = "context"
    lookup: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"field {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind in ("categorical", "multi_categorical", "index") and self.vocab_size < 2:
            raise ValueError(f"field {self.name!r}: a categorical field needs vocab_size >= 2 (index 0 is OOV)")
        if self.kind == "multi_categorical" and self.max_len < 1:
            raise ValueError(f"field {self.name!r}: multi_categorical needs max_len >= 1")
        if self.kind == "pretrained" and not self.lookup:
            raise ValueError(f"field {self.name!r}: pretrained needs `lookup` (the index field)")


@dataclass
class FeatureSpec:
    fields: list[FieldSpec]
    label: str = "label"
    tables: dict[str, str] = field(default_factory=dict)  # free-form provenance (vocab version, ...)

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate field names in {names}")
        by_name = {f.name: f for f in self.fields}
        for f in self.of_kind("pretrained"):
            key = by_name.get(f.lookup or "")
            if key is None or key.kind not in ("categorical", "index"):
                raise ValueError(
                    f"pretrained field {f.name!r} looks up by {f.lookup!r}, which is not a categorical or index field"
                )

    def __getitem__(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def of_kind(self, *kinds: str) -> list[FieldSpec]:
        return [f for f in self.fields if f.kind in kinds]

    def of_group(self, group: str, *kinds: str) -> list[FieldSpec]:
        return [f for f in self.fields if f.group == group and (not kinds or f.kind in kinds)]

    @property
    def sparse(self) -> list[FieldSpec]:
        """Fields that become one embedding each: categorical, multi-valued and numeric."""
        return self.of_kind("categorical", "multi_categorical", "numeric")

    def input_columns(self) -> list[str]:
        """Batch keys the models read (pretrained vectors are looked up by their index field)."""
        return [f.name for f in self.fields if f.kind != "pretrained"]

    def without(self, *kinds: str) -> FeatureSpec:
        return FeatureSpec([f for f in self.fields if f.kind not in kinds], self.label, dict(self.tables))

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "tables": dict(self.tables),
            "fields": [{k: v for k, v in asdict(f).items() if v not in (None, 0) or k == "name"} for f in self.fields],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        unknown = set(data) - {"label", "fields", "tables"}
        if unknown:
            raise ConfigError(f"feature spec: unknown keys {sorted(unknown)}; known: fields, label, tables")
        out = [load_dataclass(FieldSpec, raw, f"feature spec: fields[{i}]") for i, raw in enumerate(data["fields"])]
        return cls(out, data.get("label", "label"), dict(data.get("tables", {})))

    @classmethod
    def from_yaml(cls, path: str | Path) -> FeatureSpec:
        return cls.from_dict(yaml.safe_load(Path(path).read_text()))

    def to_yaml(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True))
