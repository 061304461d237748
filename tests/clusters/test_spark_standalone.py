"""`deploy/spark/submit.sh` against a Spark standalone cluster (a Master and a Worker on loopback):
`featurize` writes the same lake as its local[*] run on a user's own tables, `ingest` the same day's rows
with the landing zone and the lake on object storage, and the executors, not the driver, wrote the data.

Not submitted here, and why (each job costs a minute of a CPU-bound CI): `build_datasets`, whose
transforms `ingest` runs on the cluster (validation, features, examples, vocabulary positions, the Delta
writer on the executors), and whose tables would equal the local run's for any Worker layout only as far
as the shuffle partitions match, which they do here (4 in both); `generate_site`, which writes the
sample site, no user's pipeline. tests/spark_jobs/ checks both jobs' output in local mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from deltalake import DeltaTable

from ray_apps.lake import read_table
from tests.clusters.processes import TitleSampler
from tests.clusters.spark_cluster import SparkStandalone

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


@pytest.fixture(scope="module")
def standalone(s3):
    # One two-core Worker: on a 2-core machine a second one-core Worker adds a JVM and 15-20 s to each job
    # (build_datasets on the tiny site: 56 s against 70-76 s, 2026-12-06) and proves nothing more: the
    # executors are still other processes than the driver, and the tables still equal the local run's.
    cluster = SparkStandalone(workers=1, cores=2, memory="2g", env=s3.env)  # the node can reach the bucket
    yield cluster
    cluster.stop()


def _run(cluster: SparkStandalone, job: str, args: list[str]) -> tuple[str, set[int]]:
    """Submit JOB and wait; -> (its output, the processes seen under the Workers meanwhile), having checked
    that the driver ran none of those (its executors are the Workers' processes)."""
    proc = cluster.submit(job, args)
    roots = {f"worker{i}": pid for i, pid in enumerate(cluster.worker_pids())} | {"driver": proc.pid}
    with TitleSampler(roots, interval_s=0.5) as seen:  # executors and their Python daemons live for the job
        out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-5000:]
    executors = set().union(*(seen.pids(name) for name in seen.seen if name.startswith("worker")))
    assert executors and not executors & seen.pids("driver")
    return out, executors


def _rows(table: Path | str, root: Path | str, version: int | None = None) -> list[str]:
    """The table's live rows (at `version`) as sorted JSON lines, paths made relative to the landing zone /
    lake root, the run id (a fresh UUID per run) left out."""
    frame = read_table(table, version=version).to_pylist()
    lines = []
    for row in frame:
        row.pop("run_id", None)
        for key in ("started_at", "finished_at", "config", "versions"):  # the runs record: when and where
            row.pop(key, None)
        text = json.dumps(row, sort_keys=True, default=str).replace(str(root), "ROOT")
        lines.append(text)
    return sorted(lines)


def _writer_parents(table: Path | str) -> set[int]:
    """The parent processes (PySpark's worker daemons) of the Python workers that wrote the table's last
    commit; the writers themselves may live only for their task, too briefly to be sampled."""
    (commit,) = DeltaTable(str(table)).history(1)
    return {int(w.rsplit(":", 1)[1]) for w in commit.get("umair.writers", [])}


FEATURIZE_TABLES = ["featurize_runs", "interactions_test", "interactions_train", "interactions_valid"]
FEATURIZE_TABLES += ["items", "rejects", "vocab"]


def test_featurize_on_a_standalone_cluster_equals_the_local_run(standalone, featurized, tmp_path):
    """A user's CSV / Parquet / JSON tables (tests/own_tables.py, planted problems included) through
    spark-submit: every table's rows and dataset.yaml as in the local[*] run, written by executors."""
    local_lake, record, facts = featurized
    lake = tmp_path / "lake"
    _, executors = _run(standalone, "featurize", ["--config", str(facts["config"]), "--lake", str(lake)])

    assert sorted(p.name for p in lake.iterdir() if (p / "_delta_log").is_dir()) == FEATURIZE_TABLES
    for name in FEATURIZE_TABLES:
        if name != "featurize_runs":  # its record holds timings and paths
            assert _rows(lake / name, lake) == _rows(local_lake / name, local_lake), name
        writers = _writer_parents(lake / name)
        if name != "featurize_runs" and read_table(lake / name).num_rows:
            assert writers and writers <= executors, (name, writers)
    (run,) = read_table(lake / "featurize_runs").to_pylist()
    cluster_record = json.loads(run["record"])
    for key in ("counts", "missing_side_rows", "split", "splits", "oov_rows", "vocab_sizes", "catalogue"):
        assert cluster_record[key] == record[key], key
    yaml_body = [(p / "dataset.yaml").read_text().split("\n", 1)[1] for p in (lake, local_lake)]
    assert yaml_body[0] == yaml_body[1]  # the first line names the run


def test_ingest_with_the_landing_zone_and_the_lake_on_object_storage_equals_the_local_run(
    standalone, s3, tiny_days, tiny_ingested, monkeypatch
):
    """A data team's bucket: the history's lake and a landing zone holding one arrived day, on the S3
    server; `submit.sh ingest` with s3:// locations only. Every table the day touched holds the rows
    the local-path ingest of the same day wrote, and the S3 lake's own dataset.yaml says so. The tables
    the day appended to were written by the executors (a day's few changed users and items are merged
    on the driver, by design: spark_jobs/delta.py merge_rows)."""
    raw, history_lake, _ = tiny_days
    _, _, local_lake, records = tiny_ingested
    first = records[0]  # the local run's first day, ingested into the same history lake
    landing, lake = s3.upload(raw, "landing"), s3.upload(history_lake, "lake_days")
    for later in records[1:]:  # the bucket's landing zone holds the first day only
        for name in ("interactions", "users", "illustrations"):
            if s3.keys(f"landing/{name}/date={later['date']}"):
                s3.fs.delete_dir(f"{s3.bucket}/landing/{name}/date={later['date']}")

    out, executors = _run(standalone, "ingest", ["--raw", landing, "--lake", lake])
    assert f"Day {first['date']} (run " in out and "skipped" not in out

    for key, value in s3.env.items():  # this process reads the bucket as the nodes do
        monkeypatch.setenv(key, value)
    assert set(first["versions"]) >= {"users", "items", "interactions_test", "rejects", "ingest_log"}
    by_executors = []
    for name, version in first["versions"].items():
        remote = f"{lake}/{name}"
        assert _rows(remote, lake) == _rows(local_lake / name, local_lake, version), name
        writers = _writer_parents(remote)
        if writers:  # a commit of the Delta writer that runs in Spark's tasks
            assert writers <= executors, (name, writers)
            by_executors.append(name)
    assert "interactions_test" in by_executors, by_executors  # the day's examples, appended by the executors
    spec = s3.read_text("lake_days/dataset.yaml")
    assert "written by umair ingest" in spec.split("\n", 1)[0]
    assert f"num_items: {read_table(f'{lake}/items').num_rows}" in spec  # the catalogue the day grew
