"""umair_models.dataset_spec: the one writer and reader of LAKE/dataset.yaml, and the strict loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from umair_models import dataset_spec
from umair_models.config_files import ConfigError

SIZES = {"user_id": 50, "gender": 2, "tag": 300, "illust_id": 80}


def _lake_spec() -> dataset_spec.DatasetSpec:
    return dataset_spec.illustration_dataset(SIZES, {"tags_idx": 6, "interest_tags_idx": 4}, num_items=120)


def test_a_written_spec_reads_back_the_same(tmp_path):
    spec = _lake_spec()
    path = Path(dataset_spec.write(spec, tmp_path, "written by a test"))
    text = path.read_text()
    assert text.startswith("# written by a test\n") and path == tmp_path / dataset_spec.FILE_NAME
    assert dataset_spec.parse(text, str(path)) == spec


def test_sizes_come_from_the_lake_not_from_the_file():
    spec = _lake_spec()
    entries = {f.name: f for f in spec.features}
    assert entries["user_idx"].vocab == "user_id" and entries["user_idx"].vocab_size is None
    assert (
        entries["artist_idx"].vocab is None and entries["artist_idx"].vocab_size == 2
    )  # an empty vocabulary: OOV only
    features = dataset_spec.feature_spec(spec, {**SIZES, "user_id": 70}, "test", vectors={"e_tsem": 8, "e_sty": 4})
    assert features["user_idx"].vocab_size == 71 and features["tags_idx"].max_len == 6
    assert features["item_idx"].kind == "index" and features["item_idx"].vocab_size == 121
    assert [f.name for f in features.of_kind("pretrained")] == ["e_tsem", "e_sty"]
    assert not dataset_spec.feature_spec(spec, SIZES, "test").of_kind("pretrained", "index")  # before embed


def test_a_vocabulary_the_lake_lacks_is_a_named_error():
    with pytest.raises(ConfigError, match=r"lake.yaml: field 'user_idx' names vocab 'user_id'"):
        dataset_spec.feature_spec(_lake_spec(), {"tag": 3}, "lake.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tables: {train: t}\nfeatures: []\nlabels: y\n", r"labels: unknown key"),
        ("tables: {train: t}\nfeatures: [{name: a, kind: categorical, vocab_sise: 3}]\n", r"features\.0\.vocab_sise"),
        ("tables: {train: t}\nfeatures: [{name: a, kind: dense}]\n", r"features\.0\.kind"),
        ("tables: {test: t}\nfeatures: []\n", r"tables\.train is required"),
        ("- just a list\n", r"expected a mapping"),
    ],
)
def test_a_bad_spec_names_the_file_and_the_key(text, message):
    with pytest.raises(ConfigError, match=message) as error:
        dataset_spec.parse(text, "my/dataset.yaml")
    assert str(error.value).startswith("my/dataset.yaml: ")
