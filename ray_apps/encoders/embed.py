"""Ray Data batch inference: items -> item_features (e_SEM, e_STY, e_TSEM per illustration).

    python -m ray_apps.encoders.embed --lake LAKE --models MODELS [--actors 1] [--use-gpu]
    umair embed --lake LAKE --models MODELS

Streams `items` (Delta) through: decode + resize in CPU tasks -> an actor pool holding both
encoders (one GPU per actor when --use-gpu, bf16 autocast there, fp32 on CPU) -> write
`item_features` (Delta). Items with a missing or corrupt image keep their text vector, get
zero image vectors with ok=false and the reason in `error`; no item is dropped.
Vectors are stored as little-endian float16 blobs (Delta has no half type): decode with
numpy.frombuffer(blob, "<f2").

Text only: when MODELS has no image_encoder/ and no item has an image (a catalogue of titles and
genres, say), nothing is decoded, e_SEM and e_STY are null for every item (ok=false, missing_image)
and the rankers see e_TSEM alone. With images in the catalogue an image encoder is required.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import torch

from ray_apps.artifacts import (
    IMAGE_ENCODER_DIR,
    IMAGE_ENCODER_FILE,
    image_encoder_config,
    load_image_encoder,
    load_text_encoder,
)
from ray_apps.console import log, setup_console
from ray_apps.encoders.images import DecodeImages, texts_of
from ray_apps.encoders.item_features import COLUMNS, TABLE, to_blob
from ray_apps.lake import read_table
from ray_apps.runtime import init_ray, torch_threads
from ray_apps.settings import app_parser, config_from_args, setting
from umair_models import storage
from umair_models.encoders.image import normalize_images


@dataclass
class EmbedConfig:
    lake: str = setting(help="lake root, a path or a URI (reads items, writes item_features)")
    models: str = setting(help="folder with image_encoder/ and text_encoder/, a path or a URI")
    actors: int = setting(1, "encoder actor pool size (one GPU each with --use-gpu)")
    batch_size: int = setting(64, "items per encoder batch")
    use_gpu: bool = setting(False, "one GPU per encoder actor")
    actor_resources: dict[str, float] = setting(
        {},
        "custom Ray resources each encoder actor also needs, e.g. '{gpu_pool: 1}': actors go to nodes that have them",
    )
    image_size: int = setting(0, "images are resized to SIZE x SIZE (0: the size the image encoder was trained at)")


SCHEMA = pa.schema(
    [
        ("item_idx", pa.int64()),
        ("illust_id", pa.string()),
        ("e_sem", pa.binary()),
        ("e_sty", pa.binary()),
        ("e_tsem", pa.binary()),
        ("ok", pa.bool_()),
        ("error", pa.string()),
        ("image_encoder", pa.string()),
        ("text_encoder", pa.string()),
    ]
)
assert SCHEMA.names == COLUMNS


class ItemEncoder:
    """Actor: loads the encoders once; batch (item_idx, illust_id, tags or text, and pixels, image_ok,
    image_error unless text only) -> an Arrow table of SCHEMA (vectors as fp16 blobs)."""

    def __init__(self, models: str, use_gpu: bool, threads: int = 1, text_only: bool = False) -> None:
        torch.set_num_threads(threads)  # Ray starts actors with OMP_NUM_THREADS=1
        self.device = "cuda" if use_gpu and torch.cuda.is_available() else "cpu"
        self.image, self.image_version = None, None
        if not text_only:
            self.image, self.image_version = load_image_encoder(models, self.device)
            if self.device == "cuda":
                self.image = self.image.to(memory_format=torch.channels_last)
        self.text, self.text_version = load_text_encoder(models, self.device)

    @torch.inference_mode()
    def image_columns(self, batch: dict) -> dict[str, list]:
        """-> {e_sem, e_sty (blobs), ok, error}: zero vectors where the image is missing or broken; null
        vectors and missing_image for every item when text only."""
        n = len(batch["item_idx"])
        if self.image is None:
            return {"e_sem": [None] * n, "e_sty": [None] * n, "ok": [False] * n, "error": ["missing_image"] * n}
        x = normalize_images(torch.from_numpy(np.asarray(batch["pixels"])).to(self.device))
        if self.device == "cuda":
            with torch.autocast("cuda", dtype=torch.bfloat16):
                e_sem, e_sty = self.image(x.to(memory_format=torch.channels_last))
        else:
            e_sem, e_sty = self.image(x)
        ok = np.asarray(batch["image_ok"], bool)
        e_sem, e_sty = e_sem.float().cpu().numpy(), e_sty.float().cpu().numpy()
        e_sem[~ok], e_sty[~ok] = 0.0, 0.0
        errors = [e or None for e in batch["image_error"]]
        return {"e_sem": to_blob(e_sem), "e_sty": to_blob(e_sty), "ok": ok.tolist(), "error": errors}

    @torch.inference_mode()
    def __call__(self, batch: dict) -> pa.Table:
        texts = [str(t) for t in batch["text"]] if "text" in batch else texts_of(batch["tags"])
        e_tsem = self.text.encode(
            texts, batch_size=len(texts), convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
        )
        n = len(texts)
        columns = {
            "item_idx": np.asarray(batch["item_idx"], np.int64),
            "illust_id": [str(i) for i in batch["illust_id"]],
            "e_tsem": to_blob(e_tsem),
            **self.image_columns(batch),
            "image_encoder": [self.image_version] * n,
            "text_encoder": [self.text_version] * n,
        }
        return pa.Table.from_pydict(columns, schema=SCHEMA)


def text_only(config: EmbedConfig) -> bool:
    """True when MODELS has no image encoder; refused if the catalogue has images to encode."""
    if storage.exists(storage.join(config.models, IMAGE_ENCODER_DIR, IMAGE_ENCODER_FILE)):
        return False
    images = read_table(storage.join(config.lake, "items"), ["image_uri"])["image_uri"]
    with_image = len(images) - images.null_count
    if with_image:
        raise FileNotFoundError(
            f"{config.models} has no {IMAGE_ENCODER_DIR}/ but {with_image:,} items of {config.lake} have an image: "
            "train one (umair pretrain-image) or point --models at a folder that has one"
        )
    log.info("no image encoder in %s and no item images: text vectors only (e_sem / e_sty null)", config.models)
    return True


def build_dataset(config: EmbedConfig):
    import ray.data

    without_images = text_only(config)
    items = ray.data.read_delta(
        storage.join(config.lake, "items"), columns=["item_idx", "illust_id", "image_uri", "tags"]
    )
    if not without_images:
        size = config.image_size or int(image_encoder_config(config.models)["image_size"])
        # num_cpus differs from the actor stage's on purpose: Ray then keeps decoding in its own CPU tasks
        # instead of fusing it into the encoder actors.
        items = items.map_batches(DecodeImages(size), batch_size=config.batch_size, num_cpus=0.5)
    return items.map_batches(
        ItemEncoder,
        fn_constructor_kwargs={
            "models": storage.absolute(config.models),
            "use_gpu": config.use_gpu,
            "threads": torch_threads(config.actors, config.use_gpu),
            "text_only": without_images,
        },
        batch_size=config.batch_size,
        compute=ray.data.ActorPoolStrategy(size=config.actors),
        num_gpus=1 if config.use_gpu else 0,
        num_cpus=1,
        resources=dict(config.actor_resources) or None,
    )


def run(config: EmbedConfig, address: str | None = None) -> dict:
    from deltalake import DeltaTable

    init_ray(address)
    t = time.time()
    out = storage.join(storage.absolute(config.lake), TABLE)
    log.info("embedding every item of %s with the encoders in %s", storage.join(config.lake, "items"), config.models)
    build_dataset(config).select_columns(COLUMNS).write_delta(out, mode="overwrite")
    features = read_table(out, ["ok", "error"]).to_pandas()
    summary = {
        "path": out,
        "version": DeltaTable(out).version(),
        "rows": len(features),
        "ok": int(features.ok.sum()),
        "not_ok": features[~features.ok].error.value_counts().to_dict(),
        "seconds": round(time.time() - t, 1),
    }
    summary["items_per_s"] = round(summary["rows"] / summary["seconds"], 1)
    log.info("item_features: %s", summary)
    return summary


def build_parser() -> argparse.ArgumentParser:
    return app_parser("Embed every item (image + text encoders) into item_features (Ray Data).", EmbedConfig, "embed")


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    setup_console()
    s = run(config_from_args(EmbedConfig, a, "embed"), a.address)
    print(
        f"item_features v{s['version']}: {s['rows']:,} items ({s['ok']:,} with image vectors; without: {s['not_ok']}) "
        f"in {s['seconds']} s ({s['items_per_s']} items/s) -> {s['path']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
