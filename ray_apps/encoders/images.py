"""Image decoding for Ray Data CPU stages: dict-of-arrays in, dict-of-arrays out (testable without Ray)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from umair_models import storage


def load_image(uri: str | None, size: int) -> tuple[np.ndarray, str]:
    """-> (pixels [size, size, 3] uint8, error). A missing or broken image gives zeros and a reason."""
    blank = np.zeros((size, size, 3), np.uint8)
    if uri is None or uri == "":
        return blank, "missing_image"
    try:
        data = storage.read_bytes(uri) if storage.is_remote(uri) else Path(uri.removeprefix("file://")).read_bytes()
        with Image.open(io.BytesIO(data)) as img:
            rgb = img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(rgb, np.uint8), ""
    except FileNotFoundError:
        return blank, "image_not_found"
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        return blank, f"corrupt_image: {type(err).__name__}"


class DecodeImages:
    """Ray Data map_batches fn: batch with `image_uri` -> adds `pixels` [B, S, S, 3], `image_ok`,
    `image_error`; a `tags` column becomes `text` (what the text encoder reads) and is dropped."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        decoded = [load_image(u, self.size) for u in batch["image_uri"]]
        batch = dict(batch)
        batch["pixels"] = (
            np.stack([d[0] for d in decoded]) if decoded else np.zeros((0, self.size, self.size, 3), np.uint8)
        )
        batch["image_error"] = np.array([d[1] for d in decoded], dtype=object)
        batch["image_ok"] = np.array([d[1] == "" for d in decoded], dtype=bool)
        if "tags" in batch:
            batch["text"] = np.array(texts_of(batch.pop("tags")), dtype=object)
        batch.pop("image_uri", None)
        return batch


def texts_of(tags: np.ndarray | list) -> list[str]:
    """A batch's `tags` lists (None = no tags) -> the texts the text encoder reads."""
    from umair_models.encoders.text import tags_text

    return [tags_text(list(t) if t is not None else []) for t in tags]
