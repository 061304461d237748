"""PrepConfig: the prep job's settings file, read by the strict loader."""

from __future__ import annotations

import pytest

from spark_jobs.config import PrepConfig
from umair_models.config_files import ConfigError


def test_a_settings_file_under_prep_overrides_the_defaults(tmp_path):
    path = tmp_path / "prep.yaml"
    path.write_text("prep:\n  min_count: 3\n  raw_format: csv\n")
    config = PrepConfig.from_yaml(path)
    assert (config.min_count, config.raw_format, config.max_item_tags) == (3, "csv", PrepConfig().max_item_tags)
    assert PrepConfig.from_yaml(None) == PrepConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prep:\n  min_cuont: 3\n", r"min_cuont: unknown key"),
        ("prep:\n  raw_format: xml\n", r"raw_format: Input should be 'auto', 'parquet', 'csv' or 'json'"),
        ("prep:\n  max_item_tags: many\n", r"max_item_tags: Input should be a valid integer"),
        ("prep:\n  test_start: '2020-01-01'\n", r"need train_start < test_start - valid_days"),
    ],
)
def test_a_bad_setting_names_the_file_and_the_key(tmp_path, text, message):
    path = tmp_path / "prep.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as error:
        PrepConfig.from_yaml(path)
    assert str(error.value).startswith(f"{path}: ")
