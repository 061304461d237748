"""Where the Ray apps' inputs and outputs live: a local path or an object-store URI (`s3://bucket/lake`,
`gs://...`), one set of helpers for both.

`pathlib.Path` turns `s3://bucket/lake` into `s3:/bucket/lake`, so every lake, run and models location
goes through `join` and friends here. Files are read and written through pyarrow's filesystems, and
Delta tables through delta-rs, and both take their credentials and endpoint from the environment
(`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`, and for plain-HTTP
servers `AWS_ALLOW_HTTP=true`): set them on every node (or in the Ray job's runtime_env), as a
platform team does for any S3 client. `file://` URIs are local paths.

Folders that a library can only read from disk (an encoder, a served run) are mirrored to a local
cache by `local_copy` on the node that needs them; never hand a local path made on one node to another.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow.fs as pafs

CACHE_ENV = "UMAIR_STORAGE_CACHE"  # where local_copy mirrors remote folders (default ~/.cache/umair/storage)


def is_remote(location: str | Path) -> bool:
    """True for an object-store URI (`s3://...`); False for a local path or a `file://` URI."""
    text = str(location)
    return "://" in text and not text.startswith("file://")


def absolute(location: str | Path) -> str:
    """A location every node reads the same way: remote URIs as they are, local paths made absolute."""
    text = str(location)
    if is_remote(text):
        return text.rstrip("/")
    return str(Path(text.removeprefix("file://")).resolve())


def join(base: str | Path, *parts: str) -> str:
    """`base/part/...` for a local path or a URI (a URI keeps its `//`)."""
    text = str(base)
    if not is_remote(text):
        return str(Path(text.removeprefix("file://"), *parts))
    return "/".join([text.rstrip("/"), *(p.strip("/") for p in parts)])


def parent(location: str | Path) -> str:
    """The folder holding `location`."""
    text = absolute(location)
    return text.rsplit("/", 1)[0] if is_remote(text) else str(Path(text).parent)


def filesystem(location: str | Path) -> tuple[pafs.FileSystem, str]:
    """(pyarrow filesystem, path inside it) for a location; credentials come from the environment."""
    import pyarrow.fs as pafs

    if not is_remote(location):
        return pafs.LocalFileSystem(), absolute(location)
    return pafs.FileSystem.from_uri(str(location))


def exists(location: str | Path) -> bool:
    import pyarrow.fs as pafs

    fs, path = filesystem(location)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def is_delta_table(location: str | Path) -> bool:
    """Whether a Delta table (its `_delta_log`) is at `location`."""
    return exists(join(location, "_delta_log"))


def read_bytes(location: str | Path) -> bytes:
    fs, path = filesystem(location)
    with fs.open_input_stream(path) as f:
        return f.read()


def read_text(location: str | Path) -> str:
    return read_bytes(location).decode("utf-8")


def write_bytes(location: str | Path, data: bytes) -> None:
    """Write a whole file (parent folders created); a remote object appears whole or not at all."""
    fs, path = filesystem(location)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as f:
        f.write(data)


def write_text(location: str | Path, text: str) -> None:
    write_bytes(location, text.encode("utf-8"))


def modified_at(location: str | Path) -> float:
    """A file's modification time, seconds since the epoch."""
    fs, path = filesystem(location)
    mtime = fs.get_file_info(path).mtime
    if mtime is None:
        raise FileNotFoundError(location)
    return mtime.timestamp()


def make_dirs(location: str | Path) -> None:
    """A folder and its parents (object stores have no folders: nothing to do there)."""
    if not is_remote(location):
        Path(absolute(location)).mkdir(parents=True, exist_ok=True)


def delete_dir(location: str | Path) -> None:
    """A folder and everything under it, if it exists."""
    import pyarrow.fs as pafs

    fs, path = filesystem(location)
    if fs.get_file_info(path).type != pafs.FileType.NotFound:
        fs.delete_dir(path)


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "umair" / "storage")


def local_copy(location: str | Path) -> Path:
    """A local folder holding what `location` holds: the folder itself when local, else a mirror in this
    node's cache, refreshed file by file when the remote size or time differs (files written locally
    beside them, such as a served run's retrieval index, are kept)."""
    if not is_remote(location):
        return Path(absolute(location))
    import pyarrow.fs as pafs

    fs, root = filesystem(location)
    if fs.get_file_info(root).type != pafs.FileType.Directory:
        raise FileNotFoundError(f"{location}: no such folder")
    target = cache_root() / hashlib.sha256(absolute(location).encode()).hexdigest()[:16]
    for info in fs.get_file_info(pafs.FileSelector(root, recursive=True)):
        if info.type != pafs.FileType.File:
            continue
        local = target / info.path[len(root) :].lstrip("/")
        mtime = info.mtime.timestamp() if info.mtime else 0.0
        if local.exists() and local.stat().st_size == info.size and local.stat().st_mtime == mtime:
            continue
        local.parent.mkdir(parents=True, exist_ok=True)
        partial = local.with_name(f"{local.name}.{os.getpid()}.part")  # replicas copying at once do not collide
        with fs.open_input_stream(info.path) as src, open(partial, "wb") as dst:
            while chunk := src.read(1 << 22):
                dst.write(chunk)
        os.utime(partial, (mtime, mtime))
        partial.replace(local)
    return target


def upload_dir(folder: str | Path, location: str | Path) -> None:
    """Copy a local folder's files to `location` (a URI or a local path), replacing what is there."""
    import pyarrow.fs as pafs

    fs, root = filesystem(location)
    delete_dir(location)
    pafs.copy_files(
        str(Path(folder).resolve()), root, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs
    )
