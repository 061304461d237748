"""Every artifact a stage writes and another reads back: trained rankers, the image encoder, the text
encoder, training checkpoints and JSON records. One module, so no consumer imports a producer's
training code to open a file.

Files are loaded with `torch.load(weights_only=True)`: tensors and plain containers only, never
arbitrary pickled objects.

    RUNS/<run>/model.pt               {"model": state_dict, "spec", "model_name", "variant", "config"}
    MODELS/image_encoder/encoder.pt   {"config", "state_dict", "version"}
    MODELS/text_encoder/              a sentence-transformers folder + VERSION
    <checkpoint>/state.pt             {"model", "optimizer", "epoch", ...} (Ray Train checkpoints)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

RANKER_FILE = "model.pt"
IMAGE_ENCODER_DIR, IMAGE_ENCODER_FILE = "image_encoder", "encoder.pt"
TEXT_ENCODER_DIR = "text_encoder"
CHECKPOINT_FILE = "state.pt"


def write_json(path: str | Path, data: Any) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2, default=str))


def _load(path: Path, device: str = "cpu") -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such artifact")
    return torch.load(path, map_location=device, weights_only=True)


# --- Ray Train checkpoints -------------------------------------------------------------------------
def save_checkpoint_state(folder: str | Path, state: dict[str, Any]) -> None:
    torch.save(state, Path(folder, CHECKPOINT_FILE))


def load_checkpoint_state(folder: str | Path) -> dict[str, Any]:
    return _load(Path(folder, CHECKPOINT_FILE))


# --- trained rankers -------------------------------------------------------------------------------
def save_ranker(
    run_dir: str | Path, model: torch.nn.Module, spec: dict, model_name: str, variant: str | None, config: dict
) -> None:
    torch.save(
        {"model": model.state_dict(), "spec": spec, "model_name": model_name, "variant": variant, "config": config},
        Path(run_dir, RANKER_FILE),
    )


def load_ranker(run_dir: str | Path, device: str = "cpu") -> tuple[Any, Any, dict[str, Any]]:
    """(model in eval mode, FeatureSpec, saved dict) from RUNS/<run>/model.pt; item vectors still to load."""
    from umair_models.features import FeatureSpec
    from umair_models.models.registry import MODELS

    saved = _load(Path(run_dir, RANKER_FILE), device)
    spec = FeatureSpec.from_dict(saved["spec"])
    cls = MODELS[saved["model_name"]]
    model = cls(spec, cls.config_class.from_dict(saved["config"]))
    model.load_state_dict(saved["model"], strict=False)
    return model.eval().to(device), spec, saved


def ranker_trained_at(run_dir: str | Path) -> float:
    return Path(run_dir, RANKER_FILE).stat().st_mtime


# --- image encoder ---------------------------------------------------------------------------------
def save_image_encoder(models: str | Path, config: dict, state_dict: dict, version: str) -> Path:
    out = Path(models, IMAGE_ENCODER_DIR)
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"config": config, "state_dict": state_dict, "version": version}, out / IMAGE_ENCODER_FILE)
    return out


def image_encoder_config(models: str | Path) -> dict[str, Any]:
    return _load(Path(models, IMAGE_ENCODER_DIR, IMAGE_ENCODER_FILE))["config"]


def load_image_encoder(models: str | Path, device: str = "cpu") -> tuple[Any, str]:
    """(DualOutputResNet in eval mode, version) from MODELS/image_encoder/."""
    from umair_models.encoders.image import DualOutputResNet, ImageEncoderConfig

    saved = _load(Path(models, IMAGE_ENCODER_DIR, IMAGE_ENCODER_FILE), device)
    model = DualOutputResNet(ImageEncoderConfig(**saved["config"]))
    model.load_state_dict(saved["state_dict"], strict=False)
    return model.eval().to(device), saved["version"]


# --- text encoder ----------------------------------------------------------------------------------
def save_text_encoder(models: str | Path, model: Any, version: str) -> Path:
    out = Path(models, TEXT_ENCODER_DIR)
    model.save(str(out))
    (out / "VERSION").write_text(version)
    return out


def load_text_encoder(models: str | Path, device: str = "cpu") -> tuple[Any, str]:
    """(SentenceTransformer, version) from MODELS/text_encoder/."""
    from umair_models.encoders.text import load_text_encoder as load_folder

    folder = Path(models, TEXT_ENCODER_DIR)
    if not folder.exists():
        raise FileNotFoundError(f"{folder}: no text encoder; run `umair finetune-text` first")
    version_file = folder / "VERSION"
    version = version_file.read_text().strip() if version_file.exists() else folder.name
    return load_folder(str(folder), device), version
