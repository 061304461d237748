"""Ray Data batch inference: items -> item_features (e_SEM, e_STY, e_TSEM per illustration).

    python -m ray_apps.embed_items --lake LAKE --models MODELS [--actors 1] [--use-gpu]
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
from pathlib import Path

import numpy as np
import torch

from ray_apps.common import add_cluster_args, init_ray, log, setup_logging, to_blob, torch_threads
from ray_apps.images import DecodeImages
from umair_models.encoders.image import normalize_images
from umair_models.encoders.text import load_text_encoder

COLUMNS = ["item_idx", "illust_id", "e_sem", "e_sty", "e_tsem", "ok", "error", "image_encoder", "text_encoder"]


@dataclass
class EmbedConfig:
    lake: str
    models: str
    actors: int = 1
    batch_size: int = 64
    use_gpu: bool = False
    image_size: int = 0  # 0 = the size the image encoder was trained at


class ItemEncoder:
    """Actor: loads both encoders once; batch (pixels, image_ok, tags, ...) -> vectors as fp16 blobs."""

    def __init__(self, models: str, use_gpu: bool, threads: int = 1) -> None:
        from ray_apps.pretrain_image_encoder import load_encoder

        torch.set_num_threads(threads)  # Ray starts actors with OMP_NUM_THREADS=1
        self.device = "cuda" if use_gpu and torch.cuda.is_available() else "cpu"
        self.image, self.image_version = load_encoder(Path(models, "image_encoder"), self.device)
        if self.device == "cuda":
            self.image = self.image.to(memory_format=torch.channels_last)
        text_dir = Path(models, "text_encoder")
        self.text = load_text_encoder(str(text_dir), self.device)
        self.text_version = (text_dir / "VERSION").read_text().strip() if (text_dir / "VERSION").exists() else text_dir.name

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
        e_tsem = self.text.encode(texts, batch_size=len(texts), convert_to_numpy=True, normalize_embeddings=True)
        n = len(ok)
        return {
            "item_idx": np.asarray(batch["item_idx"], np.int64), "illust_id": batch["illust_id"],
            "e_sem": to_blob(e_sem), "e_sty": to_blob(e_sty), "e_tsem": to_blob(e_tsem), "ok": ok,
            "error": np.array([e or None for e in batch["image_error"]], dtype=object),
            "image_encoder": np.array([self.image_version] * n, dtype=object),
            "text_encoder": np.array([self.text_version] * n, dtype=object),
        }


def image_size_of(models: str) -> int:
    return int(torch.load(Path(models, "image_encoder", "encoder.pt"), map_location="cpu", weights_only=False)["config"]["image_size"])


def build_dataset(config: EmbedConfig):
    import ray.data

    size = config.image_size or image_size_of(config.models)
    items = ray.data.read_delta(str(Path(config.lake, "items")), columns=["item_idx", "illust_id", "image_uri", "tags"])
    # num_cpus differs from the actor stage's on purpose: Ray then keeps decoding in its own CPU tasks
    # instead of fusing it into the encoder actors.
    decoded = items.map_batches(DecodeImages(size), batch_size=config.batch_size, num_cpus=0.5)
    return decoded.map_batches(
        ItemEncoder, fn_constructor_kwargs={"models": config.models, "use_gpu": config.use_gpu,
                               "threads": torch_threads(config.actors, config.use_gpu)},
        batch_size=config.batch_size, compute=ray.data.ActorPoolStrategy(size=config.actors),
        num_gpus=1 if config.use_gpu else 0, num_cpus=1)


def run(config: EmbedConfig, address: str | None = None) -> dict:
    from deltalake import DeltaTable

    init_ray(address)
    t = time.time()
    out = str(Path(config.lake, "item_features"))
    build_dataset(config).select_columns(COLUMNS).write_delta(out, mode="overwrite")
    table = DeltaTable(out)
    features = table.to_pyarrow_table(columns=["ok", "error"]).to_pandas()
    summary = {"path": out, "version": table.version(), "rows": len(features), "ok": int(features.ok.sum()),
               "not_ok": features[~features.ok].error.value_counts().to_dict(), "seconds": round(time.time() - t, 1)}
    summary["items_per_s"] = round(summary["rows"] / summary["seconds"], 1)
    log.info("item_features: %s", summary)
    return summary


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Embed every item (image + text encoders) into item_features (Ray Data).")
    p.add_argument("--lake", required=True)
    p.add_argument("--models", required=True, help="folder with image_encoder/ and text_encoder/")
    p.add_argument("--actors", type=int, default=1, help="encoder actor pool size (one GPU each with --use-gpu)")
    p.add_argument("--batch-size", type=int, default=64)
    add_cluster_args(p, workers=False)
    return p


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    a = build_parser().parse_args(argv)
    s = run(EmbedConfig(lake=a.lake, models=a.models, actors=a.actors, batch_size=a.batch_size, use_gpu=a.use_gpu), a.address)
    print(f"item_features v{s['version']}: {s['rows']:,} items ({s['ok']:,} with image vectors; without: {s['not_ok']}) "
          f"in {s['seconds']} s ({s['items_per_s']} items/s) -> {s['path']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
