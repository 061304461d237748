"""umair_models.storage against local folders and a real S3-protocol server (moto's, on loopback)."""

from __future__ import annotations

import os

import pytest

from tests.clusters.s3_server import S3Server
from umair_models import storage


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = S3Server("store", tmp_path_factory.mktemp("s3") / "moto.log")
    yield server
    server.stop()


@pytest.fixture
def s3_env(s3, monkeypatch, tmp_path):
    for key, value in {**s3.env, storage.CACHE_ENV: str(tmp_path / "cache")}.items():
        monkeypatch.setenv(key, value)
    return s3


def test_locations_join_without_losing_the_uri_scheme(tmp_path):
    assert storage.join("s3://bucket/lake/", "runs", "/x/") == "s3://bucket/lake/runs/x"
    assert storage.parent("s3://bucket/lake/dataset.yaml") == "s3://bucket/lake"
    assert storage.absolute("s3://bucket/lake/") == "s3://bucket/lake"
    assert (
        storage.is_remote("gs://b/x") and not storage.is_remote(f"file://{tmp_path}") and not storage.is_remote("lake")
    )
    assert storage.absolute(f"file://{tmp_path}/a/../b") == str(tmp_path / "b")
    assert storage.join(str(tmp_path), "a", "b") == str(tmp_path / "a" / "b")


def test_files_round_trip_on_the_bucket(s3_env):
    uri = "s3://store/a/b/record.json"
    assert not storage.exists(uri)
    storage.write_text(uri, '{"auc": 0.7}')
    assert storage.exists(uri) and storage.read_text(uri) == '{"auc": 0.7}'
    assert storage.modified_at(uri) > 0
    assert s3_env.read_text("a/b/record.json") == '{"auc": 0.7}'  # what another S3 client sees
    with pytest.raises(FileNotFoundError):
        storage.read_bytes("s3://store/a/missing.png")


def test_a_folder_uploads_and_mirrors_back_refreshing_only_what_changed(s3_env, tmp_path):
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "weights.bin").write_bytes(b"w" * 1000)
    (folder / "sub" / "VERSION").write_text("v1")
    storage.upload_dir(folder, "s3://store/models/m")
    assert s3_env.keys("models/m") == ["models/m/sub/VERSION", "models/m/weights.bin"]
    copy = storage.local_copy("s3://store/models/m")
    assert (copy / "weights.bin").read_bytes() == b"w" * 1000 and (copy / "sub" / "VERSION").read_text() == "v1"
    stamp = os.stat(copy / "weights.bin").st_mtime_ns
    storage.write_text("s3://store/models/m/sub/VERSION", "v2-longer")
    again = storage.local_copy("s3://store/models/m")
    assert again == copy and (copy / "sub" / "VERSION").read_text() == "v2-longer"
    assert os.stat(copy / "weights.bin").st_mtime_ns == stamp  # unchanged: not copied again
    storage.delete_dir("s3://store/models/m")
    assert not storage.exists("s3://store/models/m/weights.bin")
    with pytest.raises(FileNotFoundError):
        storage.local_copy("s3://store/models/m")


def test_a_local_folder_is_its_own_copy(tmp_path):
    assert storage.local_copy(tmp_path) == tmp_path.resolve()
