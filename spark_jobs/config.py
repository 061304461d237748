"""Typed configuration of the preprocessing job; defaults are the paper's. YAML keys must match
field names (unknown keys are errors). `deploy/configs/prep.yaml` shows every key."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass(frozen=True)
class PrepConfig:
    train_start: str = "2021-01-01"
    test_start: str = "2021-10-01"  # train = [train_start, test_start); test = [test_start, test_end)
    test_end: str = "2022-01-01"
    valid_days: int = 14  # validation = the last `valid_days` of the training period
    raw_format: str = "auto"  # auto | parquet | csv | json
    min_count: int = 2  # vocabulary threshold (index 0 = OOV / padding)
    min_count_by_feature: dict[str, int] = field(default_factory=lambda: {"user_id": 1, "illust_id": 1})
    max_item_tags: int = 12
    max_interest_tags: int = 8
    negative_ratio: int = 4  # used only when a source has no views
    negative_seed: int = 17
    pretext_num_labels: int = 256  # the most frequent tags become the image pretext classes
    pretext_max_labels: int = 8
    partition_interactions_by_month: bool = True

    @property
    def valid_start(self) -> str:
        return (_utc(self.test_start) - timedelta(days=self.valid_days)).strftime("%Y-%m-%d")

    def min_count_for(self, feature: str) -> int:
        return self.min_count_by_feature.get(feature, self.min_count)

    def check(self) -> PrepConfig:
        if not (_utc(self.train_start) < _utc(self.valid_start) < _utc(self.test_start) < _utc(self.test_end)):
            raise ValueError("need train_start < test_start - valid_days < test_start < test_end")
        if self.raw_format not in ("auto", "parquet", "csv", "json"):
            raise ValueError(f"raw_format must be auto, parquet, csv or json, not {self.raw_format!r}")
        return self

    @classmethod
    def from_yaml(cls, path: str | Path | None) -> PrepConfig:
        if path is None:
            return cls().check()
        data = yaml.safe_load(Path(path).read_text()) or {}
        data = data.get("prep", data)
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"{path}: unknown prep config keys {sorted(unknown)}")
        return cls(**data).check()

    def to_dict(self) -> dict:
        return asdict(self)
