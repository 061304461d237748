"""The raw landing zone as users hand it over: one file per dataset, pandas' nanosecond Parquet."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from spark_jobs.raw import read_raw


def _interactions_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": ["u1", "u2", "u3"],
            "illust_id": ["i1", "i2", "i1"],
            "event": ["view", "bookmark", "view"],
            # pandas' default: datetime64[ns], written to Parquet as TIMESTAMP(NANOS)
            "ts": pd.to_datetime(
                ["2024-01-01 10:00:00.123456789", "2024-02-01 00:00:00", "2024-03-05 23:59:59.5"], format="ISO8601"
            ),
        }
    )


def test_one_parquet_file_from_pandas_with_nanosecond_timestamps(spark, tmp_path):
    frame = _interactions_frame()
    frame.to_parquet(tmp_path / "interactions.parquet")
    rows = read_raw(spark, str(tmp_path), "interactions").orderBy("user_id").collect()
    assert [r.user_id for r in rows] == ["u1", "u2", "u3"]
    assert rows[0].ts.replace(tzinfo=UTC) == datetime(2024, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)  # ns -> us
    assert rows[2].ts.replace(tzinfo=UTC) == datetime(2024, 3, 5, 23, 59, 59, 500000, tzinfo=UTC)


def test_one_csv_file_reads_like_a_folder(spark, tmp_path):
    frame = _interactions_frame()
    frame.to_csv(tmp_path / "interactions.csv", index=False)
    (tmp_path / "folder" / "interactions").mkdir(parents=True)
    frame.to_csv(tmp_path / "folder" / "interactions" / "part-0.csv", index=False)
    one_file = read_raw(spark, str(tmp_path), "interactions").orderBy("user_id").collect()
    folder = read_raw(spark, str(tmp_path / "folder"), "interactions").orderBy("user_id").collect()
    assert one_file == folder and len(one_file) == 3


def test_a_dataset_given_twice_or_not_at_all_is_a_clear_error(spark, tmp_path):
    _interactions_frame().to_csv(tmp_path / "interactions.csv", index=False)
    _interactions_frame().to_parquet(tmp_path / "interactions.parquet")
    with pytest.raises(ValueError, match="given twice"):
        read_raw(spark, str(tmp_path), "interactions")
    with pytest.raises(FileNotFoundError, match=r"users\.<parquet"):
        read_raw(spark, str(tmp_path), "users")
    assert read_raw(spark, str(tmp_path), "text_pairs") is None  # optional
