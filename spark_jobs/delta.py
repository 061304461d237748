"""Delta tables from Spark without the JVM Delta connector.

`umair_delta` is a PySpark Python data source: each Spark task writes its rows as Parquet files
(pyarrow) into the table folder and returns their metadata; the driver's `commit()` makes ONE
delta-rs commit of all files (a new table, an append or a full overwrite). A failed job commits
nothing (`abort()` deletes its files), so readers keep seeing the previous version; files of a
failed task attempt are never committed. Same design as Ray Data's Delta datasink.

    write_delta(df, "LAKE/users", mode="overwrite", partition_by=["month"], schema=LAKE["users"])
    read_delta(spark, "LAKE/users")   # live files only (never spark.read.parquet(folder))
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa
from pyspark.sql.datasource import DataSource, DataSourceArrowWriter, WriterCommitMessage

from umair_models import storage

FORMAT = "umair_delta"


@dataclass
class FilesWritten(WriterCommitMessage):
    """One task's written files: Delta add-action fields, plus row count."""

    actions: list[dict] = field(default_factory=list)
    rows: int = 0
    writer: str = ""  # "host:pid:parent pid" of the Python worker that wrote them (lineage: which executor wrote)


def _schema_to_option(schema: pa.Schema | None) -> str:
    return "" if schema is None else schema.serialize().to_pybytes().hex()


def _schema_from_option(text: str) -> pa.Schema | None:
    return pa.ipc.read_schema(pa.py_buffer(bytes.fromhex(text))) if text else None


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Check a batch against the table schema: same column names, values castable without loss.

    Raises ValueError on a missing or extra column or an unsafe cast (e.g. text into a bigint),
    which Delta would otherwise commit unchecked.
    """
    names, want = table.column_names, schema.names
    if sorted(names) != sorted(want):
        raise ValueError(f"batch columns {sorted(names)} do not match the table schema {sorted(want)}")
    try:
        return table.select(want).cast(schema, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise ValueError(f"batch does not fit the table schema: {err}") from err


class DeltaWriter(DataSourceArrowWriter):
    def __init__(
        self, path: str, overwrite: bool, partition_by: list[str], schema: pa.Schema | None, description: str
    ) -> None:
        self.path, self.overwrite, self.partition_by = path, overwrite, partition_by
        self.schema, self.description = schema, description
        self.job_id = uuid.uuid4().hex[:12]  # chosen on the driver; shared by every task of this job

    def write(self, iterator: Iterator[pa.RecordBatch]) -> FilesWritten:
        import pyarrow.dataset as pds
        from pyspark import TaskContext

        ctx = TaskContext.get()
        part, attempt = (ctx.partitionId(), ctx.attemptNumber()) if ctx else (0, 0)
        batches = list(iterator)
        if not batches:
            return FilesWritten()
        table = pa.Table.from_batches(batches)
        if self.schema is not None:
            table = conform(table, self.schema)
        if table.num_rows == 0:
            return FilesWritten()
        written: list[dict] = []
        now = int(time.time() * 1000)

        fs, root = storage.filesystem(self.path)

        def visit(f: pds.WrittenFile) -> None:
            rel = f.path[len(root) :].lstrip("/")  # a local path or a key under the bucket
            values = dict(kv.split("=", 1) for kv in rel.split("/")[:-1])
            written.append(
                {
                    "path": rel,
                    "size": f.size,
                    "partition_values": values,
                    "modification_time": now,
                    "stats": json.dumps({"numRecords": f.metadata.num_rows}),
                }
            )

        storage.make_dirs(self.path)
        partitioning = (
            pds.partitioning(table.select(self.partition_by).schema, flavor="hive") if self.partition_by else None
        )
        pds.write_dataset(
            table,
            root,
            filesystem=fs,
            format="parquet",
            partitioning=partitioning,
            basename_template=f"part-{part:05d}-{self.job_id}-a{attempt}-{{i}}.parquet",
            existing_data_behavior="overwrite_or_ignore",
            file_visitor=visit,
            max_rows_per_file=2_000_000,
        )
        return FilesWritten(written, table.num_rows, f"{socket.gethostname()}:{os.getpid()}:{os.getppid()}")

    def commit(self, messages: list[WriterCommitMessage | None]) -> None:  # FilesWritten, from write()
        from deltalake import DeltaTable, Schema
        from deltalake.transaction import AddAction, CommitProperties, RemoveAction, create_table_with_add_actions

        written = [m for m in messages if isinstance(m, FilesWritten)]
        actions = [AddAction(data_change=True, **a) for m in written for a in m.actions]
        rows = sum(m.rows for m in written)
        schema = self.schema if self.schema is not None else self._written_schema(actions)
        writers = sorted({m.writer for m in written if m.writer})
        props = CommitProperties(
            custom_metadata={"umair.rows": rows, "umair.description": self.description, "umair.writers": writers}
        )
        if not DeltaTable.is_deltatable(self.path):
            create_table_with_add_actions(
                self.path,
                Schema.from_arrow(schema),
                actions,
                mode="error",
                partition_by=self.partition_by or None,
                commit_properties=props,
            )
            return
        table = DeltaTable(self.path)  # loaded here, inside commit: a stale snapshot would not conflict-check
        changes: list[AddAction | RemoveAction] = list(actions)
        table.create_write_transaction(
            changes,
            "overwrite" if self.overwrite else "append",
            schema,
            partition_by=self.partition_by or None,
            commit_properties=props,
        )

    def abort(self, messages: list[WriterCommitMessage | None]) -> None:
        fs, root = storage.filesystem(self.path)
        for m in messages:
            for a in m.actions if isinstance(m, FilesWritten) else []:
                try:
                    fs.delete_file(f"{root}/{a['path']}")
                except FileNotFoundError:
                    pass

    def _written_schema(self, actions: list) -> pa.Schema:
        import pyarrow.parquet as pq

        if not actions:
            raise ValueError(f"nothing written to {self.path} and no schema given: cannot create the table")
        fs, root = storage.filesystem(self.path)
        return pq.read_schema(f"{root}/{actions[0].path}", filesystem=fs)


class DeltaDataSource(DataSource):
    """Options: path (required), partition_by (comma list), schema (hex IPC), description."""

    @classmethod
    def name(cls) -> str:
        return FORMAT

    def writer(self, schema, overwrite: bool) -> DeltaWriter:
        path = self.options.get("path")
        if not path:
            raise ValueError("the umair_delta writer needs option('path', ...)")
        parts = [c for c in self.options.get("partition_by", "").split(",") if c]
        return DeltaWriter(
            storage.absolute(path),  # a local path made absolute, or an object-store URI
            overwrite,
            parts,
            _schema_from_option(self.options.get("schema", "")),
            self.options.get("description", ""),
        )


def register(spark) -> None:
    spark.dataSource.register(DeltaDataSource)


def write_delta(
    df,
    path: str,
    mode: str = "overwrite",
    partition_by: list[str] | tuple[str, ...] = (),
    schema: pa.Schema | None = None,
    description: str = "",
) -> int:
    """Write `df` as one Delta commit at `path`; returns the new table version.

    mode: "overwrite" (whole table) or "append". `schema`: the table's pyarrow schema; every
    batch is checked and cast against it before anything is committed.
    """
    from deltalake import DeltaTable

    if mode not in ("overwrite", "append"):
        raise ValueError(f"mode must be 'overwrite' or 'append', got {mode!r}")
    register(df.sparkSession)
    (
        df.write.format(FORMAT)
        .mode(mode)
        .option("path", path)
        .option("partition_by", ",".join(partition_by))
        .option("schema", _schema_to_option(schema))
        .option("description", description)
        .save()
    )
    return DeltaTable(path).version()


def read_delta(spark, path: str, version: int | None = None):
    """A Delta table as a Spark DataFrame, reading only the version's live files."""
    from deltalake import DeltaTable

    table = DeltaTable(storage.absolute(path), version=version)
    files = table.file_uris()
    want = pa.schema(table.schema().to_arrow())
    if not files:
        from pyspark.sql.pandas.types import from_arrow_schema

        return spark.createDataFrame([], from_arrow_schema(want))
    if storage.is_remote(path):  # executors read the files through pyarrow (no JVM S3 connector)
        from spark_jobs.remote_files import read_remote_parquet

        return read_remote_parquet(spark, files, table_schema=want)
    df = spark.read.option("basePath", path).parquet(*files)
    return df.select(*want.names)


def merge_rows(path: str, rows: pa.Table, key: str, description: str = "") -> int:
    """Upsert `rows` into the Delta table at `path` on `key` (one commit: matched rows updated,
    others inserted); returns the new version. For a day's few changed rows, collected on the driver."""
    from deltalake import DeltaTable
    from deltalake.transaction import CommitProperties

    table = DeltaTable(path)
    rows = conform(rows, pa.schema(table.schema().to_arrow()))
    props = CommitProperties(custom_metadata={"umair.rows": rows.num_rows, "umair.description": description})
    (
        table.merge(rows, predicate=f"t.{key} = s.{key}", source_alias="s", target_alias="t", commit_properties=props)
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )
    return DeltaTable(path).version()


def delete_rows(path: str, predicate: str) -> int:
    """Delete the rows matching a delta-rs SQL `predicate` (one commit); returns the new version."""
    from deltalake import DeltaTable

    table = DeltaTable(path)
    table.delete(predicate)
    return DeltaTable(path).version()


def restore_versions(lake: str, before: dict[str, int | None]) -> list[str]:
    """Put each table `lake/<name>` back to its version in `before` (a table that did not exist is left
    for the next run to overwrite); returns the names restored. Used when a multi-table job fails."""
    from deltalake import DeltaTable

    restored = []
    for name, version in before.items():
        path = storage.join(lake, name)
        if version is None or not DeltaTable.is_deltatable(path):
            continue
        if DeltaTable(path).version() != version:
            DeltaTable(path).restore(version)
            restored.append(name)
    return restored
