"""Artifacts cannot run code: model weights are safetensors with a JSON record, checkpoints load with
`weights_only=True`, and a planted pickle is refused with an error naming the file while nothing in
it executes."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from ray_apps.artifacts import (
    CHECKPOINT_FILE,
    IMAGE_ENCODER_DIR,
    IMAGE_ENCODER_FILE,
    RANKER_FILE,
    TEXT_ENCODER_DIR,
    UnsafeArtifactError,
    load_checkpoint_state,
    load_image_encoder,
    load_ranker,
    load_text_encoder,
    save_checkpoint_state,
    save_ranker,
)
from tests.umair_models.conftest import item_tables, make_batch, make_spec
from umair_models.models.registry import build_model


class _RunsCode:
    """Unpickling this creates `marker`: a stand-in for any code an attacker would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _payload(marker: Path) -> bytes:
    return pickle.dumps({"model": _RunsCode(marker)})


def test_payload_is_live_when_unpickled(tmp_path):
    """Control: the planted bytes do run code when a plain unpickler opens them."""
    pickle.loads(_payload(tmp_path / "ran"))
    assert (tmp_path / "ran").exists()


def test_ranker_round_trips_through_safetensors_without_item_tables(tmp_path):
    spec, tables = make_spec(), item_tables()
    model = build_model("umair_fps", spec)
    for name, (v, present) in tables.items():
        model.load_pretrained(name, v, present)
    save_ranker(tmp_path, model, spec.to_dict(), "umair_fps", None, model.config.to_dict())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", RANKER_FILE]
    record = json.loads((tmp_path / "model.json").read_text())
    assert record["format"] == "umair-ranker" and record["model_name"] == "umair_fps"
    with open(tmp_path / RANKER_FILE, "rb") as f:  # safetensors: 8-byte header length, then a JSON header
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    assert header and not any(k.startswith("lookups.") for k in header)  # item tables come from the lake

    loaded, _, _ = load_ranker(tmp_path)
    for name, (v, present) in tables.items():
        loaded.load_pretrained(name, v, present)
    batch = make_batch(64)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(batch), loaded(batch))


@pytest.mark.parametrize("planted", ["model.pt", RANKER_FILE])
def test_a_planted_pickle_as_a_ranker_is_refused_and_never_runs(tmp_path, planted):
    marker = tmp_path / "ran"
    (tmp_path / planted).write_bytes(_payload(marker))
    (tmp_path / "model.json").write_text(json.dumps({"format": "umair-ranker", "format_version": 1}))
    with pytest.raises(UnsafeArtifactError, match=planted.replace(".", r"\.")):
        load_ranker(tmp_path)
    assert not marker.exists()


def test_a_planted_pickle_as_a_checkpoint_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran"
    (tmp_path / CHECKPOINT_FILE).write_bytes(_payload(marker))
    with pytest.raises(UnsafeArtifactError, match=CHECKPOINT_FILE):
        load_checkpoint_state(tmp_path)
    assert not marker.exists()
    save_checkpoint_state(tmp_path, {"model": {"w": torch.ones(2)}, "epoch": 3})  # tensors + containers load
    assert load_checkpoint_state(tmp_path)["epoch"] == 3


def test_a_planted_pickle_as_an_image_encoder_is_refused_and_never_runs(tmp_path):
    marker, folder = tmp_path / "ran", tmp_path / IMAGE_ENCODER_DIR
    folder.mkdir()
    (folder / IMAGE_ENCODER_FILE).write_bytes(_payload(marker))
    with pytest.raises(UnsafeArtifactError, match=IMAGE_ENCODER_FILE):
        load_image_encoder(tmp_path)
    assert not marker.exists()


def test_a_text_encoder_folder_with_pickled_weights_is_refused(tmp_path):
    marker, folder = tmp_path / "ran", tmp_path / TEXT_ENCODER_DIR
    folder.mkdir()
    (folder / "pytorch_model.bin").write_bytes(_payload(marker))
    with pytest.raises(UnsafeArtifactError, match="pytorch_model.bin"):
        load_text_encoder(tmp_path)
    assert not marker.exists()


def test_a_record_of_another_format_is_refused(tmp_path):
    spec = make_spec()
    model = build_model("dcn", spec)
    save_ranker(tmp_path, model, spec.to_dict(), "dcn", None, model.config.to_dict())
    record = json.loads((tmp_path / "model.json").read_text())
    (tmp_path / "model.json").write_text(json.dumps({**record, "format_version": 99}))
    with pytest.raises(UnsafeArtifactError, match="model.json"):
        load_ranker(tmp_path)
