"""A real S3-protocol server on loopback for the object-storage tests: moto's standalone server (HTTP,
the S3 REST API), started as its own process, with one bucket. Clients reach it the way they reach
AWS: through the environment in `env` (credentials, endpoint, plain HTTP allowed)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pyarrow.fs as pafs
import requests

from tests.clusters.ray_cluster import BIN, free_port


class S3Server:
    """server = S3Server("umair"); server.env; server.upload(local_dir, "lake"); server.read_text("lake/x")"""

    def __init__(self, bucket: str, log: Path) -> None:
        self.bucket, self.port = bucket, free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._log = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                requests.get(self.endpoint, timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.3)
        else:
            self.stop()
            raise RuntimeError(f"the S3 server did not come up (log: {log})")
        self.env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
        }
        self.fs = pafs.S3FileSystem(
            access_key="testing",
            secret_key="testing",
            region="us-east-1",
            endpoint_override=self.endpoint,
            scheme="http",
            allow_bucket_creation=True,
        )
        self.fs.create_dir(bucket)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def upload(self, folder: Path, key: str) -> str:
        """Copy a local folder under KEY; -> its s3:// URI."""
        pafs.copy_files(
            str(folder),
            f"{self.bucket}/{key}",
            source_filesystem=pafs.LocalFileSystem(),
            destination_filesystem=self.fs,
        )
        return self.uri(key)

    def read_bytes(self, key: str) -> bytes:
        with self.fs.open_input_stream(f"{self.bucket}/{key}") as f:
            return f.read()

    def read_text(self, key: str) -> str:
        return self.read_bytes(key).decode()

    def keys(self, prefix: str) -> list[str]:
        """Every object key under PREFIX (relative to the bucket)."""
        selector = pafs.FileSelector(f"{self.bucket}/{prefix}", recursive=True, allow_not_found=True)
        infos = self.fs.get_file_info(selector)
        return sorted(i.path.removeprefix(f"{self.bucket}/") for i in infos if i.type == pafs.FileType.File)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()
