"""Typed configuration of the preprocessing job; defaults are the paper's. YAML keys must match
field names (unknown keys are errors). `deploy/configs/prep.yaml` shows every key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, model_validator

from umair_models.config_files import ConfigError, StrictModel, load_model


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class PrepConfig(StrictModel):
    train_start: str = "2021-01-01"
    test_start: str = "2021-10-01"  # train = [train_start, test_start); test = [test_start, test_end)
    test_end: str = "2022-01-01"
    valid_days: int = 14  # validation = the last `valid_days` of the training period
    raw_format: Literal["auto", "parquet", "csv", "json"] = "auto"
    min_count: int = 2  # vocabulary threshold (index 0 = OOV / padding)
    min_count_by_feature: dict[str, int] = Field(default_factory=lambda: {"user_id": 1, "illust_id": 1})
    max_item_tags: int = 12
    max_interest_tags: int = 8
    negative_ratio: int = 4  # used only when a source has no views
    negative_seed: int = 17
    pretext_num_labels: int = 256  # the most frequent tags become the image pretext classes
    pretext_max_labels: int = 8
    partition_interactions_by_month: bool = True
    # `umair ingest` rolls the splits each day: test = the newest day, valid = what was test before
    # (the day before), train = all older examples, or only the last `train_window_days` days (0: all).
    train_window_days: int = Field(default=0, ge=0)

    @property
    def valid_start(self) -> str:
        return (_utc(self.test_start) - timedelta(days=self.valid_days)).strftime("%Y-%m-%d")

    def min_count_for(self, feature: str) -> int:
        return self.min_count_by_feature.get(feature, self.min_count)

    @model_validator(mode="after")
    def _ordered_dates(self) -> PrepConfig:
        if not (_utc(self.train_start) < _utc(self.valid_start) < _utc(self.test_start) < _utc(self.test_end)):
            raise ValueError("need train_start < test_start - valid_days < test_start < test_end")
        return self

    @classmethod
    def from_yaml(cls, path: str | Path | None) -> PrepConfig:
        """The defaults, or a YAML file's settings (at its top level or under `prep:`); ConfigError naming
        the file and any unknown or ill-typed key."""
        if path is None:
            return cls()
        data = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of prep settings")
        return load_model(cls, data.get("prep", data), str(path))

    def to_dict(self) -> dict:
        return self.model_dump()
