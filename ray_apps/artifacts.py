"""Every artifact a stage writes and another reads back: trained rankers, the image encoder, the text
encoder, training checkpoints and JSON records. One module, so no consumer imports a producer's
training code to open a file.

No artifact is a pickle that could run code when opened. Model weights are safetensors (tensors
only) with a JSON record beside them; a folder that holds only a pickle, or a file that is not
valid safetensors, is refused with an error naming the file, and nothing in it is executed.
Training checkpoints hold optimizer state (nested containers) and stay `torch.save` files, loaded
with `torch.load(weights_only=True)` (tensors and plain containers only; anything else is refused).

    RUNS/<run>/model.safetensors + model.json     learned state (no frozen item-vector tables) and
                                                  {"format", "format_version", "model_name", "variant",
                                                   "spec", "config"}
    MODELS/image_encoder/encoder.safetensors + encoder.json   state_dict and {"format", ..., "config", "version"}
    MODELS/text_encoder/              a sentence-transformers folder (model.safetensors) + VERSION
    <checkpoint>/state.pt             {"model", "optimizer", "epoch", ...} (Ray Train checkpoints)
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from umair_models import storage

FORMAT_VERSION = 1
RANKER_FILE = "model.safetensors"  # + model.json
IMAGE_ENCODER_DIR, IMAGE_ENCODER_FILE = "image_encoder", "encoder.safetensors"  # + encoder.json
TEXT_ENCODER_DIR = "text_encoder"
CHECKPOINT_FILE = "state.pt"
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".pkl", ".pickle", ".ckpt")


class UnsafeArtifactError(ValueError):
    """An artifact that is missing, not in the safe format, or unreadable; the message names the file."""


def write_json(path: str | Path, data: Any) -> None:
    """A JSON file at a local path or an object-store URI."""
    storage.write_text(path, json.dumps(data, indent=2, default=str))


def read_json(path: str | Path) -> Any:
    return json.loads(storage.read_text(path))


def _record_path(weights: str | Path) -> str:
    return str(weights).removesuffix(".safetensors") + ".json"


def save_weights(path: str | Path, tensors: dict[str, torch.Tensor], record: dict[str, Any]) -> str:
    """Write `path` (safetensors: {name: tensor}) and its record `path`.json ({"format", ...} + record);
    `path` may be an object-store URI."""
    # Contiguous CPU copies: safetensors refuses views and tensors that share storage.
    storage.write_bytes(
        path, save_safetensors({k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()})
    )
    write_json(_record_path(path), {"format_version": FORMAT_VERSION, **record})
    return str(path)


def load_weights(path: str | Path, kind: str, device: str = "cpu") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """({name: tensor}, record) from `path` and `path`.json, written by `save_weights` with format `kind`.

    Refuses (UnsafeArtifactError, naming the file) a missing file, a folder with only a pickle where the
    weights should be, a file that is not safetensors, and a record of another format or version.
    """
    if not storage.exists(path):
        folder = Path(storage.parent(path))
        local = not storage.is_remote(path) and folder.is_dir()
        pickles = sorted(p.name for p in folder.glob("*") if p.suffix in PICKLE_SUFFIXES) if local else []
        hint = f"; found {', '.join(pickles)}: pickles are never loaded (they can run code), retrain" if pickles else ""
        raise UnsafeArtifactError(f"{path}: no such artifact{hint}")
    try:
        tensors = {k: v.to(device) for k, v in load_safetensors(storage.read_bytes(path)).items()}
    except (SafetensorError, OSError, ValueError) as e:
        raise UnsafeArtifactError(f"{path}: not a safetensors file ({e}); nothing in it was run") from e
    record_path = _record_path(path)
    try:
        record = read_json(record_path)
    except (OSError, ValueError) as e:
        raise UnsafeArtifactError(f"{record_path}: missing or not JSON ({e})") from e
    if record.get("format") != kind or record.get("format_version") != FORMAT_VERSION:
        raise UnsafeArtifactError(
            f"{record_path}: format {record.get('format')!r} version {record.get('format_version')!r}, "
            f"expected {kind!r} version {FORMAT_VERSION}"
        )
    return tensors, record


# --- Ray Train checkpoints -------------------------------------------------------------------------
def save_checkpoint_state(folder: str | Path, state: dict[str, Any]) -> None:
    torch.save(state, Path(folder, CHECKPOINT_FILE))


def load_checkpoint_state(folder: str | Path) -> dict[str, Any]:
    """A checkpoint's state: tensors and plain containers only (`weights_only=True` refuses any other
    pickled object without running it)."""
    path = Path(folder, CHECKPOINT_FILE)
    if not path.exists():
        raise UnsafeArtifactError(f"{path}: no such checkpoint file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError and whatever a broken file raises
        raise UnsafeArtifactError(f"{path}: refused ({type(e).__name__}: {str(e).splitlines()[0]})") from e


# --- trained rankers -------------------------------------------------------------------------------
def save_ranker(
    run_dir: str | Path, model: Any, spec: dict, model_name: str, variant: str | None, config: dict
) -> None:
    """RUNS/<run>/model.safetensors (the learned state; item vectors are loaded from the lake) + model.json."""
    record = {"format": "umair-ranker", "model_name": model_name, "variant": variant, "spec": spec, "config": config}
    save_weights(storage.join(run_dir, RANKER_FILE), model.trainable_state(), record)


def load_ranker(run_dir: str | Path, device: str = "cpu") -> tuple[Any, Any, dict[str, Any]]:
    """(model in eval mode, FeatureSpec, record) from RUNS/<run>/model.safetensors; item vectors still to load."""
    from umair_models.features import FeatureSpec
    from umair_models.models.registry import MODELS

    state, record = load_weights(storage.join(run_dir, RANKER_FILE), "umair-ranker", device)
    spec = FeatureSpec.from_dict(record["spec"])
    cls = MODELS[record["model_name"]]
    model = cls(spec, cls.config_class.from_dict(record["config"]))
    model.load_trainable_state(state)
    return model.eval().to(device), spec, record


def ranker_trained_at(run_dir: str | Path) -> float:
    return storage.modified_at(storage.join(run_dir, RANKER_FILE))


# --- image encoder ---------------------------------------------------------------------------------
def save_image_encoder(models: str | Path, config: dict, state_dict: dict, version: str) -> str:
    out = storage.join(models, IMAGE_ENCODER_DIR)
    save_weights(
        storage.join(out, IMAGE_ENCODER_FILE),
        state_dict,
        {"format": "umair-image-encoder", "config": config, "version": version},
    )
    return out


def image_encoder_config(models: str | Path) -> dict[str, Any]:
    return read_json(_record_path(storage.join(models, IMAGE_ENCODER_DIR, IMAGE_ENCODER_FILE)))["config"]


def load_image_encoder(models: str | Path, device: str = "cpu") -> tuple[Any, str]:
    """(DualOutputResNet in eval mode, version) from MODELS/image_encoder/."""
    from umair_models.encoders.image import DualOutputResNet, ImageEncoderConfig

    state, record = load_weights(
        storage.join(models, IMAGE_ENCODER_DIR, IMAGE_ENCODER_FILE), "umair-image-encoder", device
    )
    model = DualOutputResNet(ImageEncoderConfig(**record["config"]))
    model.load_state_dict(state, strict=False)
    return model.eval().to(device), record["version"]


# --- text encoder ----------------------------------------------------------------------------------
def save_folder(model: Any, location: str, extra_files: dict[str, str] | None = None) -> None:
    """A model that saves itself to a local folder (`model.save(folder)`, as sentence-transformers does)
    at `location`, through a local folder and an upload when `location` is on object storage."""
    if not storage.is_remote(location):
        model.save(location)
        for name, text in (extra_files or {}).items():
            Path(location, name).write_text(text)
        return
    with tempfile.TemporaryDirectory() as folder:
        save_folder(model, folder, extra_files)
        storage.upload_dir(folder, location)


def save_text_encoder(models: str | Path, model: Any, version: str) -> str:
    out = storage.join(models, TEXT_ENCODER_DIR)
    save_folder(model, out, {"VERSION": version})
    return out


def load_text_encoder(models: str | Path, device: str = "cpu") -> tuple[Any, str]:
    """(SentenceTransformer, version) from MODELS/text_encoder/ (from this node's copy when MODELS is remote)."""
    from umair_models.encoders.text import load_text_encoder as load_folder

    location = storage.join(models, TEXT_ENCODER_DIR)
    if not storage.exists(location):
        raise FileNotFoundError(f"{location}: no text encoder; run `umair finetune-text` first")
    folder = storage.local_copy(location)
    pickles = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise UnsafeArtifactError(
            f"{folder}: holds pickled weights ({', '.join(pickles)}); only safetensors are loaded (they cannot run code)"
        )
    version_file = folder / "VERSION"
    version = version_file.read_text().strip() if version_file.exists() else folder.name
    return load_folder(str(folder), device), version
