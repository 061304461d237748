"""Days that arrive (`generate --days`) and their incremental ingest into a lake `prep` built: growth
that balances, indices that never change, idempotence, late events, bad files, failed days."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from deltalake import DeltaTable

from spark_jobs import ingest as ingest_job
from spark_jobs import schema
from spark_jobs.generate_site import generate
from spark_jobs.landing import arrived_days
from spark_jobs.raw import RawFileError
from spark_jobs.site import days as arriving_days
from spark_jobs.site import world

DAYS = ["2021-12-29", "2021-12-30", "2021-12-31"]
SPLIT_TABLES = [f"interactions_{s}" for s in schema.SPLITS]


def _rows(lake: Path, name: str, version: int | None = None) -> pa.Table:
    return DeltaTable(str(lake / name), version=version).to_pyarrow_table()


def _versions(lake: Path) -> dict[str, int]:
    return {p.name: DeltaTable(str(p)).version() for p in lake.iterdir() if (p / "_delta_log").is_dir()}


def test_days_are_partitions_and_the_history_is_the_site_without_them(tiny_days, tiny_site):
    raw, _, manifest = tiny_days
    assert arrived_days(str(raw)) == DAYS == list(manifest["days"])
    full = ds.dataset(tiny_site[0] / "interactions", format="parquet").to_table()
    history = ds.dataset([str(p) for p in sorted((raw / "interactions").glob("part-*.parquet"))], format="parquet")
    ts = pa.compute.cast(full["ts"], pa.int64()).to_numpy(zero_copy_only=False) // 1_000_000
    in_days = (
        full["ts"].is_valid().to_numpy(zero_copy_only=False) & (ts >= arriving_days.cut(3)) & (ts < world.YEAR_END)
    )
    expected = full.filter(pa.array(~in_days)).sort_by(
        [("user_id", "ascending"), ("ts", "ascending"), ("event", "ascending")]
    )
    got = history.to_table().sort_by([("user_id", "ascending"), ("ts", "ascending"), ("event", "ascending")])
    assert got.equals(expected)  # the days are carved out; the history is untouched by --days
    for day in DAYS:
        rows = ds.dataset(raw / "interactions" / f"date={day}", format="parquet").to_table()
        assert rows.num_rows == manifest["days"][day]["interactions"] > 0


def test_same_seed_same_days(spark, tiny_days, tmp_path):
    raw, _, _ = tiny_days
    generate(spark, "tiny", str(tmp_path), seed=7, images=False, days=3)
    for day in DAYS:
        for name in ("interactions", "illustrations"):
            a = sorted((raw / name / f"date={day}").glob("*.parquet"))
            b = sorted((tmp_path / name / f"date={day}").glob("*.parquet"))
            assert [p.name for p in a] == [p.name for p in b]
            assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b))


def test_each_day_grows_the_splits_by_its_examples_and_counts_balance(tiny_ingested):
    _, history_lake, lake, records = tiny_ingested
    assert [r["date"] for r in records] == DAYS
    log = {r["date"]: r for r in _rows(lake, "ingest_log").to_pylist()}
    before = sum(_rows(history_lake, t).num_rows for t in SPLIT_TABLES)
    for r in records:
        after = sum(_rows(lake, t, r["versions"][t]).num_rows for t in SPLIT_TABLES)
        assert after - before == r["examples"] > 0
        assert _rows(lake, "interactions_test", r["versions"]["interactions_test"]).num_rows == r["examples"]
        before = after
        for source, c in r["counts"].items():
            assert c["in"] == c["kept"] + c["rejected"] == c["kept"] + sum(c["reasons"].values()), source
        rejects = _rows(lake, "rejects").filter(pa.compute.equal(_rows(lake, "rejects")["run_id"], r["run_id"]))
        assert rejects.num_rows == sum(c["rejected"] for c in r["counts"].values())
        assert json.loads(log[r["date"]]["versions"]) == {k: v for k, v in r["versions"].items() if k != "ingest_log"}
    # the generator re-delivers a share of each day's events in the next day's partition: late
    assert all(r["counts"]["interactions"]["reasons"].get("late_event", 0) > 0 for r in records[1:])


def test_no_vocabulary_or_catalogue_index_ever_changes(tiny_ingested):
    _, history_lake, lake, records = tiny_ingested
    old, new = _rows(history_lake, "vocab").to_pylist(), _rows(lake, "vocab").to_pylist()
    now = {(r["feature"], r["value"]): r["index"] for r in new}
    assert all(now[(r["feature"], r["value"])] == r["index"] for r in old)
    top = {}
    for r in old:
        top[r["feature"]] = max(top.get(r["feature"], 0), r["index"])
    added = [r for r in new if (r["feature"], r["value"]) not in {(o["feature"], o["value"]) for o in old}]
    assert added and all(r["index"] > top.get(r["feature"], 0) for r in added)
    for feature in {r["feature"] for r in new}:  # still 1..V without gaps or repeats
        indices = sorted(r["index"] for r in new if r["feature"] == feature)
        assert indices == list(range(1, len(indices) + 1)), feature
    for table, key, columns in (
        ("items", "illust_id", ["item_idx", "item_id_idx"]),
        ("users", "user_id", ["user_idx"]),
    ):
        was = {r[key]: r for r in _rows(history_lake, table).to_pylist()}
        for r in _rows(lake, table).to_pylist():
            if r[key] in was:
                for c in columns:  # kept, or an OOV (0) index filled in now that the id is in the vocabulary
                    assert r[c] == was[r[key]][c] or (was[r[key]][c] == 0 and r[c] == now[(key, r[key])]), (table, c)
    items = _rows(lake, "items")
    assert sorted(items["item_idx"].to_pylist()) == list(range(1, items.num_rows + 1))
    assert items.num_rows > _rows(history_lake, "items").num_rows  # illustrations published on the days
    spec = (lake / "dataset.yaml").read_text()
    assert f"num_items: {items.num_rows}" in spec


def test_ingesting_again_changes_nothing(spark, tiny_ingested, capsys):
    raw, _, lake, _ = tiny_ingested
    before = _versions(lake)
    again = ingest_job.ingest(spark, str(raw), str(lake))
    assert [r["date"] for r in again] == DAYS and all("already ingested" in r["skipped"] for r in again)
    assert _versions(lake) == before
    ingest_job.print_records(str(raw), str(lake), again)
    assert "skipped, already ingested by run" in capsys.readouterr().out


def test_an_unreadable_day_stops_naming_the_file_and_writes_nothing(spark, tiny_ingested, tmp_path):
    raw, _, lake, _ = tiny_ingested
    bad_raw = tmp_path / "raw"
    shutil.copytree(raw, bad_raw)
    day = bad_raw / "interactions" / "date=2022-01-01"
    day.mkdir()
    good = next((raw / "interactions" / f"date={DAYS[-1]}").glob("*.parquet")).read_bytes()
    (day / "part-00000.parquet").write_bytes(good[: len(good) // 3])
    before = _versions(lake)
    with pytest.raises(RawFileError, match="date=2022-01-01/part-00000.parquet"):
        ingest_job.ingest(spark, str(bad_raw), str(lake))
    assert _versions(lake) == before


def test_a_day_that_fails_midway_leaves_every_table_at_its_previous_version(spark, tiny_days, tmp_path, monkeypatch):
    raw, history_lake, _ = tiny_days
    lake = tmp_path / "lake"
    shutil.copytree(history_lake, lake)
    before = _versions(lake)

    def broken(*args, **kwargs):  # fault injection: the splits' commit fails after vocab, users, items
        raise OSError("disk full")

    monkeypatch.setattr(ingest_job, "_roll_splits", broken)
    with pytest.raises(OSError, match="disk full"):
        ingest_job.ingest(spark, str(raw), str(lake))
    assert {n: DeltaTable(str(lake / n)).to_pyarrow_table().num_rows for n in before} == {
        n: DeltaTable(str(history_lake / n)).to_pyarrow_table().num_rows for n in before
    }
    assert ingest_job.ingested(spark, str(lake)) == {}
