"""Ray Data batch inference: items -> item_features (e_SEM, e_STY, e_TSEM per illustration).

    python -m ray_apps.encoders.embed --lake LAKE --models MODELS [--actors 1] [--use-gpu]
    umair embed --lake LAKE --models MODELS

Streams `items` (Delta) through: decode + resize in CPU tasks -> an actor pool holding both
encoders (one GPU per actor when --use-gpu, bf16 autocast there, fp32 on CPU) -> write
`item_features` (Delta). Items with a missing or corrupt image keep their text vector, get
zero image vectors with ok=false and the reason in `error`; no item is dropped.
Vectors are stored as little-endian float16 blobs (Delta has no half type): decode with
numpy.frombuffer(blob, "<f2").
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import torch

from ray_apps import storage
from ray_apps.artifacts import image_encoder_config, load_image_encoder, load_text_encoder
from ray_apps.encoders.images import DecodeImages
from ray_apps.encoders.item_features import COLUMNS, TABLE, to_blob
from ray_apps.runtime import init_ray, log, setup_console, torch_threads
from ray_apps.settings import app_parser, config_from_args, setting
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


class ItemEncoder:
    """Actor: loads both encoders once; batch (pixels, image_ok, tags, ...) -> vectors as fp16 blobs."""

    def __init__(self, models: str, use_gpu: bool, threads: int = 1) -> None:
        torch.set_num_threads(threads)  # Ray starts actors with OMP_NUM_THREADS=1
        self.device = "cuda" if use_gpu and torch.cuda.is_available() else "cpu"
        self.image, self.image_version = load_image_encoder(models, self.device)
        if self.device == "cuda":
            self.image = self.image.to(memory_format=torch.channels_last)
        self.text, self.text_version = load_text_encoder(models, self.device)

    @torch.inference_mode()
    def __call__(self, batch: dict) -> dict:
        pixels = torch.from_numpy(np.asarray(batch["pixels"])).to(self.device)
        x = normalize_images(pixels)
        if self.device == "cuda":
            with torch.autocast("cuda", dtype=torch.bfloat16):
                e_sem, e_sty = self.image(x.to(memory_format=torch.channels_last))
        else:
            e_sem, e_sty = self.image(x)
        ok = np.asarray(batch["image_ok"], bool)
        e_sem, e_sty = e_sem.float().cpu().numpy(), e_sty.float().cpu().numpy()
        e_sem[~ok], e_sty[~ok] = 0.0, 0.0
        texts = [str(t) for t in batch["text"]]
        e_tsem = self.text.encode(
            texts, batch_size=len(texts), convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
        )
        n = len(ok)
        return {
            "item_idx": np.asarray(batch["item_idx"], np.int64),
            "illust_id": batch["illust_id"],
            "e_sem": to_blob(e_sem),
            "e_sty": to_blob(e_sty),
            "e_tsem": to_blob(e_tsem),
            "ok": ok,
            "error": np.array([e or None for e in batch["image_error"]], dtype=object),
            "image_encoder": np.array([self.image_version] * n, dtype=object),
            "text_encoder": np.array([self.text_version] * n, dtype=object),
        }


def build_dataset(config: EmbedConfig):
    import ray.data

    size = config.image_size or int(image_encoder_config(config.models)["image_size"])
    items = ray.data.read_delta(
        storage.join(config.lake, "items"), columns=["item_idx", "illust_id", "image_uri", "tags"]
    )
    # num_cpus differs from the actor stage's on purpose: Ray then keeps decoding in its own CPU tasks
    # instead of fusing it into the encoder actors.
    decoded = items.map_batches(DecodeImages(size), batch_size=config.batch_size, num_cpus=0.5)
    return decoded.map_batches(
        ItemEncoder,
        fn_constructor_kwargs={
            "models": storage.absolute(config.models),
            "use_gpu": config.use_gpu,
            "threads": torch_threads(config.actors, config.use_gpu),
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
    table = DeltaTable(out)
    features = table.to_pyarrow_table(columns=["ok", "error"]).to_pandas()
    summary = {
        "path": out,
        "version": table.version(),
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
