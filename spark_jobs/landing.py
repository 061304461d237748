"""The landing zone's layout, without Spark: which data files a dataset has, and which arriving days
(partitions RAW/<dataset>/date=YYYY-MM-DD/) hold data, on a local folder or an object-store prefix.

The Spark jobs read those files (spark_jobs.raw); the daily cycle asks here, before it starts a Spark
process, whether any day arrived that the lake has not taken in.
"""

from __future__ import annotations

from pathlib import Path

from umair_models import storage

DAY_PARTITION = "date="  # RAW/<dataset>/date=YYYY-MM-DD/: a day that arrived after the history
EXTENSIONS = {".parquet": "parquet", ".csv": "csv", ".json": "json", ".jsonl": "json", ".ndjson": "json"}


def listing(location: str) -> list[tuple[str, bool]]:
    """(relative path, is a folder) of everything under a local folder or an object-store prefix."""
    import pyarrow.fs as pafs

    fs, root = storage.filesystem(location)
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    return [(i.path[len(root) :].lstrip("/"), i.type == pafs.FileType.Directory) for i in infos]


def kind(location: str) -> str | None:
    """ "file", "folder" or None (missing) for a local path or an object-store URI."""
    import pyarrow.fs as pafs

    fs, path = storage.filesystem(location)
    found = fs.get_file_info(path).type
    return {pafs.FileType.File: "file", pafs.FileType.Directory: "folder"}.get(found)


def suffix(location: str) -> str:
    """A file's extension with its dot (`.parquet`), for local paths and URIs alike."""
    name = location.rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[-1] if "." in name else ""


def data_files(path: str | Path, day: str | None = None) -> list[str]:
    """The data files of a dataset (local paths or URIs): `path` itself when it is a file, else the files
    under the folder outside any arriving-day partition `date=D/`; with `day`, the files of partition
    `date=<day>/`."""
    location = storage.absolute(path)
    if kind(location) == "file":
        return [location] if day is None else []
    if day is not None:
        location = storage.join(location, f"{DAY_PARTITION}{day}")
    found = []
    for rel, is_dir in listing(location):
        parts = rel.split("/")
        if is_dir or suffix(rel) not in EXTENSIONS or parts[-1].startswith((".", "_")):
            continue
        if not any(d.startswith(DAY_PARTITION) for d in parts[:-1]):
            found.append(storage.join(location, rel))
    return sorted(found)


def arrived_days(raw: str, name: str = "interactions") -> list[str]:
    """Dates of the partitions RAW/<name>/date=YYYY-MM-DD/ that hold data files, oldest first."""
    folder = storage.join(raw, name)
    if kind(folder) != "folder":
        return []
    found = {rel.split("/", 1)[0][len(DAY_PARTITION) :] for rel, _ in listing(folder) if rel.startswith(DAY_PARTITION)}
    return sorted(d for d in found if data_files(folder, d))
