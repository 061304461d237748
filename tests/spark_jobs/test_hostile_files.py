"""Raw files a hostile or broken upstream produces. A bad row ends as a reject with a reason and the
row as read; a bad file stops `prep` with an error naming the file and the column, before the
lake is touched (every table keeps its version); counts always balance."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spark_jobs.raw import RawFileError, read_raw
from spark_jobs.transforms.rules import MAX_FIELD_CHARS
from spark_jobs.transforms.validate import check_raw_rows

HUGE_TAG = "x" * 10_000_000  # 10 MB in one field


def reasons(spark, raw: Path, name: str, key: str) -> dict[str, str | None]:
    """{key value (as read): reject reason or None when kept} for dataset `name` under RAW."""
    checked = check_raw_rows(read_raw(spark, str(raw), name), name)
    kept = {r[key]: None for r in checked.kept.select(key).collect()}
    rejected = {json.loads(r.record).get(key): r.reason for r in checked.rejected.collect()}
    return {**kept, **rejected}


def test_bad_csv_rows_become_rejects_with_a_reason(spark, tmp_path):
    lines = [
        b"user_id,illust_id,event,ts",
        b"u-good,i1,view,2024-01-01T10:00:00Z",
        b"u-latin1-\xe9t\xe9,i1,view,2024-01-01T10:00:00Z",  # bytes that are not UTF-8
        b"u-badts,i1,view,yesterday",  # not a timestamp
        b"u-long,i" + b"9" * (MAX_FIELD_CHARS + 1) + b",view,2024-01-01T10:00:00Z",
        b"u-extra,i1,view,2024-01-01T10:00:00Z,surplus",  # one field too many
        b"u-trunc,i1,vi",  # the file ends mid-row
    ]
    (tmp_path / "interactions.csv").write_bytes(b"\n".join(lines))
    got = reasons(spark, tmp_path, "interactions", "user_id")
    assert got == {
        "u-good": None,
        "u-latin1-\ufffdt\ufffd": "not_utf8",
        "u-badts": "bad_value",
        "u-long": "field_too_long",
        "u-extra": "malformed_record",
        "u-trunc": "malformed_record",
    }


def test_bad_json_rows_become_rejects_with_a_reason(spark, tmp_path):
    good = {"user_id": "u-good", "age": 30, "interest_tags": ["a"], "created_at": "2023-01-01T00:00:00Z"}
    rows = [
        json.dumps(good).encode(),
        b'{"user_id": "u-nan", "age": NaN}',
        b'{"user_id": "u-inf", "age": 1e400}',
        b'{"user_id": "u-text", "age": "thirty"}',
        b'{"user_id": "u-tag", "interest_tags": ["' + HUGE_TAG.encode() + b'"]}',
        b'{"user_id": "u-bytes\xff\xfe", "age": 3}',
        b'{"user_id": "u-cut", "age": 4',  # truncated last line
    ]
    (tmp_path / "users.jsonl").write_bytes(b"\n".join(rows))
    checked = check_raw_rows(read_raw(spark, str(tmp_path), "users"), "users")
    assert [r.user_id for r in checked.kept.collect()] == ["u-good"]
    by_reason: dict[str, list[str]] = {}
    for r in checked.rejected.collect():
        by_reason.setdefault(r.reason, []).append(r.record)
    assert sorted(by_reason) == ["bad_value", "field_too_long", "malformed_record", "not_utf8"]
    assert sorted(json.loads(r)["user_id"] for r in by_reason["bad_value"]) == ["u-inf", "u-nan", "u-text"]
    (long_record,) = by_reason["field_too_long"]
    assert json.loads(long_record)["interest_tags"] == [HUGE_TAG]  # the rejected row loses nothing
    assert [json.loads(r)["_corrupt_record"] for r in by_reason["malformed_record"]] == [
        '{"user_id": "u-cut", "age": 4'
    ]
    assert len(by_reason["not_utf8"]) == 1


def test_nan_and_infinity_in_a_parquet_number_column_are_bad_values(spark, tmp_path):
    """A float column where the contract has an int (what pandas writes for ints with gaps): NaN and
    infinity are bad values, a null is a missing value, 30.0 is 30."""
    users = pa.table(
        {
            "user_id": ["u1", "u2", "u3", "u4"],
            "gender": pa.nulls(4, pa.string()),
            "age": pa.array([30.0, float("nan"), float("-inf"), None], pa.float64()),
            "region": pa.nulls(4, pa.string()),
            "language": pa.nulls(4, pa.string()),
            "interest_tags": pa.array([["a"], [], None, ["b"]], pa.list_(pa.string())),
            "created_at": pa.array([pd.Timestamp("2023-01-01", tz="UTC")] * 4, pa.timestamp("us", "UTC")),
        }
    )
    pq.write_table(users, tmp_path / "users.parquet")
    assert reasons(spark, tmp_path, "users", "user_id") == {
        "u1": None,
        "u2": "bad_value",
        "u3": "bad_value",
        "u4": None,
    }
    assert read_raw(spark, str(tmp_path), "users").where("user_id = 'u1'").first().age == 30


def _interactions_table(**columns) -> pa.Table:
    base = {
        "user_id": pa.array(["u1"]),
        "illust_id": pa.array(["i1"]),
        "event": pa.array(["view"]),
        "ts": pa.array([pd.Timestamp("2024-01-01", tz="UTC")], pa.timestamp("us", "UTC")),
    }
    return pa.table({**base, **columns})


def _write_truncated(path: Path) -> None:
    pq.write_table(_interactions_table(), path)
    path.write_bytes(path.read_bytes()[:-40])


@pytest.mark.parametrize(
    "make,column,match",
    [
        (_write_truncated, None, "not a readable Parquet file"),
        (lambda p: p.write_bytes(b""), None, "not a readable Parquet file"),
        (lambda p: pq.write_table(_interactions_table().drop(["event"]), p), "event", "missing"),
        (lambda p: pq.write_table(_interactions_table(ts=pa.array([1_700_000_000])), p), "ts", "epoch numbers"),
        (
            lambda p: pq.write_table(_interactions_table(user_id=pa.array([["u1"]])), p),
            "user_id",
            "contract says string",
        ),
        (lambda p: pq.write_table(_interactions_table(user_id=pa.array([7])), p), "user_id", "but string in"),
    ],
    ids=["truncated", "empty", "missing-column", "epoch-timestamp", "nested-id", "type-differs-between-files"],
)
def test_a_bad_parquet_file_is_named_with_its_column(spark, tmp_path, make, column, match):
    folder = tmp_path / "interactions"
    folder.mkdir()
    pq.write_table(_interactions_table(), folder / "part-0.parquet")
    make(folder / "part-1.parquet")
    with pytest.raises(RawFileError, match=match) as error:
        read_raw(spark, str(tmp_path), "interactions")
    assert error.value.file == str(folder / "part-1.parquet") and error.value.column == column
    assert str(folder / "part-1.parquet") in str(error.value)


def test_a_csv_or_json_file_without_a_column_is_named_and_empty_files_hold_no_rows(spark, tmp_path):
    csv_folder = tmp_path / "csv" / "interactions"
    csv_folder.mkdir(parents=True)
    (csv_folder / "a.csv").write_text("user_id,illust_id,event,ts\nu1,i1,view,2024-01-01T00:00:00Z\n")
    (csv_folder / "empty.csv").write_bytes(b"")
    assert read_raw(spark, str(tmp_path / "csv"), "interactions").count() == 1  # the empty file adds nothing
    (csv_folder / "b.csv").write_text("user_id,illust_id,ts\nu2,i2,2024-01-01T00:00:00Z\n")
    with pytest.raises(RawFileError, match="missing from the header") as error:
        read_raw(spark, str(tmp_path / "csv"), "interactions")
    assert (error.value.file, error.value.column) == (str(csv_folder / "b.csv"), "event")

    json_folder = tmp_path / "json" / "interactions"
    json_folder.mkdir(parents=True)
    (json_folder / "a.jsonl").write_text('{"user_id": "u1", "illust_id": "i1", "event": "view", "ts": "2024-01-01"}\n')
    (json_folder / "b.jsonl").write_text('{"user_id": "u2", "illust_id": "i2", "event": "view"}\n' * 3)
    with pytest.raises(RawFileError, match="absent from all 3 records") as error:
        read_raw(spark, str(tmp_path / "json"), "interactions")
    assert error.value.column == "ts" and error.value.file.endswith("b.jsonl")


def _append_part(folder: Path, rows: dict) -> None:
    """One more Parquet part file in `folder`, with the schema of the folder's first part."""
    schema = pq.read_schema(sorted(folder.glob("*.parquet"))[0])
    columns = {f.name: rows.get(f.name, [None] * len(next(iter(rows.values())))) for f in schema}
    pq.write_table(pa.table(columns, schema=schema), folder / "part-hostile.parquet")


def test_prep_rejects_hostile_rows_and_a_bad_file_leaves_every_table_untouched(spark, tiny_site, tiny_lake, tmp_path):
    """The tiny site plus hostile rows, against the tiny site's own run (`tiny_lake`) as baseline."""
    from deltalake import DeltaTable

    from spark_jobs.build_datasets import build

    source, _ = tiny_site
    raw, lake = tmp_path / "raw", tmp_path / "lake"
    shutil.copytree(source, raw)
    when = pd.Timestamp("2024-03-01", tz="UTC")
    year_9999 = pd.Timestamp("9999-12-31", tz="UTC").to_pydatetime()
    _append_part(
        raw / "users",
        {
            "user_id": ["h-user-future", "h-user-\ufffd", "h-user-long"],
            "created_at": [year_9999, when, when],
            "region": [None, None, "r" * (MAX_FIELD_CHARS + 1)],
        },
    )
    _append_part(
        raw / "illustrations",
        {"illust_id": ["h-item-tag", "h-item-future"], "tags": [[HUGE_TAG], ["ok"]], "created_at": [when, year_9999]},
    )
    baseline = tiny_lake[1]["counts"]
    record = build(spark, str(raw), str(lake))
    for name, c in record["counts"].items():
        assert (
            c["in"] == c["kept"] + c["rejected"] == baseline[name]["in"] + {"users": 3, "illustrations": 2}.get(name, 0)
        )
    added = {
        name: {k: v - baseline[name]["reasons"].get(k, 0) for k, v in c["reasons"].items()}
        for name, c in record["counts"].items()
    }
    assert {k: v for k, v in added["users"].items() if v} == {
        "out_of_time_range": 1,
        "not_utf8": 1,
        "field_too_long": 1,
    }
    assert {k: v for k, v in added["illustrations"].items() if v} == {"field_too_long": 1, "out_of_time_range": 1}
    rejects = DeltaTable(str(lake / "rejects")).to_pandas()
    (tag_reject,) = rejects[rejects.record.str.contains("h-item-tag")].record
    assert json.loads(tag_reject)["tags"] == [HUGE_TAG]

    tables = sorted(p.name for p in lake.iterdir() if (p / "_delta_log").is_dir())
    versions = {t: DeltaTable(str(lake / t)).version() for t in tables}
    broken = raw / "illustrations" / "part-truncated.parquet"
    broken.write_bytes((raw / "illustrations" / "part-hostile.parquet").read_bytes()[:100])
    with pytest.raises(RawFileError) as error:
        build(spark, str(raw), str(lake))
    assert error.value.file == str(broken)
    assert {t: DeltaTable(str(lake / t)).version() for t in tables} == versions
