"""Reading Parquet files on object storage (`s3://...`) into Spark without the JVM's S3 connector.

`umair_files` is a PySpark Python data source: one input partition per file; each Spark task opens its
file through pyarrow's filesystem (credentials and endpoint from the executor's environment:
`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, as
the Ray side reads them) and yields Arrow record batches. Local files keep Spark's own Parquet reader.

    read_remote_parquet(spark, ["s3://landing/interactions/date=2021-12-30/part-0.parquet"])

Nanosecond timestamps (what pandas writes) are truncated to microseconds, as `raw.read_parquet`
does for local files; the columns read must have one type in every file (checked on the driver from
the footers).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition

from umair_models import storage

FORMAT = "umair_files"
BATCH_ROWS = 65_536


class RemoteFileError(ValueError):
    """A file on object storage that cannot be read (missing, not Parquet, or another schema)."""


def spark_safe(schema: pa.Schema) -> pa.Schema:
    """The schema Spark is handed: nanosecond timestamps as microseconds (Spark has no nanoseconds)."""
    fields = [
        f.with_type(pa.timestamp("us", f.type.tz)) if pa.types.is_timestamp(f.type) and f.type.unit == "ns" else f
        for f in schema
    ]
    return pa.schema(fields)


def file_schema(location: str) -> pa.Schema:
    """A Parquet file's schema from its footer; RemoteFileError when it cannot be read."""
    import pyarrow.parquet as pq

    fs, path = storage.filesystem(location)
    try:
        return pq.read_schema(path, filesystem=fs)
    except (pa.ArrowInvalid, OSError) as e:
        raise RemoteFileError(f"{location}: not a readable Parquet file: {e}") from e


class _File(InputPartition):
    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def hive_values(location: str, columns: list[str]) -> dict[str, str]:
    """{column: value} of a file's partition `columns`: the last folders of its path, `column=value/`
    each (how Delta lays partitions out, values URL-quoted)."""
    from urllib.parse import unquote

    folders = location.split("/")[-1 - len(columns) : -1] if columns else []
    values = dict(unquote(part).split("=", 1) for part in folders if "=" in part)
    missing = [c for c in columns if c not in values]
    if missing:
        raise RemoteFileError(f"{location}: no partition folder for {missing}")
    return values


class _Reader(DataSourceReader):
    def __init__(self, files: list[str], schema: pa.Schema, partition_columns: list[str]) -> None:
        self.files, self.schema, self.partition_columns = files, schema, partition_columns

    def partitions(self) -> list[InputPartition]:
        return [_File(f) for f in self.files]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        import pyarrow.parquet as pq

        location = partition.location  # type: ignore[attr-defined]  # a _File
        fs, path = storage.filesystem(location)
        data = [n for n in self.schema.names if n not in self.partition_columns]
        values = hive_values(location, self.partition_columns)
        with fs.open_input_file(path) as f:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=BATCH_ROWS, columns=data):
                columns = {n: batch.column(n) for n in data}
                for name in self.partition_columns:  # the value of the file's folder, on every row
                    columns[name] = pa.array([values.get(name)] * batch.num_rows, pa.string())
                table = pa.Table.from_pydict({n: columns[n] for n in self.schema.names})
                yield from table.cast(self.schema, safe=False).to_batches()  # nanoseconds -> microseconds


class RemoteFilesSource(DataSource):
    """Options: files (JSON list of URIs), schema (hex Arrow IPC schema, already Spark-safe),
    partition_columns (JSON list: columns whose values are the files' `column=value/` folders)."""

    @classmethod
    def name(cls) -> str:
        return FORMAT

    def _arrow_schema(self) -> pa.Schema:
        return pa.ipc.read_schema(pa.py_buffer(bytes.fromhex(self.options["schema"])))

    def schema(self):  # noqa: ANN201 - a Spark StructType
        from pyspark.sql.pandas.types import from_arrow_schema

        return from_arrow_schema(self._arrow_schema())

    def reader(self, schema) -> DataSourceReader:  # noqa: ANN001 - the StructType above
        partition_columns = json.loads(self.options.get("partition_columns", "[]"))
        return _Reader(json.loads(self.options["files"]), self._arrow_schema(), partition_columns)


def read_remote_parquet(
    spark: SparkSession, files: list[str], columns: list[str] | None = None, table_schema: pa.Schema | None = None
) -> DataFrame:
    """The Parquet `files` (URIs) as one DataFrame: `columns` (default: all of the first file's), with
    the first file's types; every other file must have them with the same types (RemoteFileError).
    `table_schema`: a Delta table's schema instead (each file cast to it); its columns that the files
    lack are the files' partition columns, read from their `column=value/` folders."""
    if not files:
        raise RemoteFileError("no files to read")
    first = file_schema(files[0])
    if table_schema is not None:  # Delta: the log's schema rules (writers differ: string vs string_view)
        partition_columns = [c for c in table_schema.names if c not in first.names]
        schema = table_schema
    else:
        partition_columns = []
        missing = [c for c in columns or [] if c not in first.names]
        if missing:
            raise RemoteFileError(f"{files[0]}: no column(s) {missing}; it has {first.names}")
        schema = pa.schema([first.field(c) for c in columns or first.names])
        for f in files[1:]:
            other = file_schema(f)
            for field in schema:
                if field.name not in other.names or other.field(field.name).type != field.type:
                    found = other.field(field.name).type if field.name in other.names else "missing"
                    raise RemoteFileError(f"{f}: column {field.name!r} is {found}, in {files[0]} {field.type}")
    spark.dataSource.register(RemoteFilesSource)
    return (
        spark.read.format(FORMAT)
        .option("files", json.dumps(files))
        .option("schema", spark_safe(schema).serialize().to_pybytes().hex())
        .option("partition_columns", json.dumps(partition_columns))
        .load()
    )
