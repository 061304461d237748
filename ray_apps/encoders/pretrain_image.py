"""Ray Train: pre-train the dual-output image encoder on the multi-label pretext task.

    python -m ray_apps.encoders.pretrain_image --lake LAKE --out MODELS [--depth 18] [--num-workers 2] [--use-gpu]
    umair pretrain-image --lake LAKE --out MODELS

Reads `pretext_image_labels` (image -> its most frequent tags; a lake `featurize` wrote has none, and
the labels come from its own catalogue instead: encoders/catalogue_pretext.py) through Ray Data, decodes images in
CPU tasks, trains with DDP (TorchTrainer), reports loss / mAP / micro-F1 on a held-out slice
(items with item_idx % 10 == 0) each epoch, checkpoints each epoch to RunConfig.storage_path
and resumes from the last checkpoint after a worker failure (FailureConfig).
Writes MODELS/image_encoder/{encoder.safetensors, encoder.json, metrics.json}.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ray_apps.artifacts import load_checkpoint_state, save_checkpoint_state, save_image_encoder, write_json
from ray_apps.console import log, progress_file, progress_line, setup_console
from ray_apps.encoders.catalogue_pretext import NothingToLearnError, catalogue_pretext
from ray_apps.encoders.images import DecodeImages
from ray_apps.lake import read_table, vocab_sizes
from ray_apps.runtime import init_ray
from ray_apps.settings import RayJobSettings, app_parser, config_from_args, setting
from ray_apps.trainer import TrainerSpec, final_checkpoint, fit_trainer
from umair_models import storage
from umair_models.encoders.image import DualOutputResNet, ImageEncoderConfig, normalize_images
from umair_models.metrics import mean_average_precision, micro_f1

HOLDOUT_MOD = 10


@dataclass
class PretrainConfig(RayJobSettings):
    lake: str = setting(help="lake root (reads pretext_image_labels, else the items table's text values)")
    out: str = setting(help="models folder; writes OUT/image_encoder/ and OUT/ray_runs/")
    depth: int = setting(18, "ResNet depth (18 on CPU; the paper uses 101)", choices=(18, 50, 101))
    image_size: int = setting(96, "images are resized to SIZE x SIZE")
    epochs: int = setting(3, "passes over the pretext images")
    batch_size: int = setting(64, "images per step and worker")
    lr: float = setting(1e-3, "Adam learning rate")
    num_labels: int = setting(0, "pretext classes (0: the lake's pretext vocabulary)")
    pretext_min_items: int = setting(
        5, "a featurized lake: a text value is a class when this many imaged items share it"
    )
    pretext_max_labels: int = setting(1000, "a featurized lake: at most this many classes, the most shared first")
    style_merge: str = setting(
        "max",
        "e_STY from the three pooled Gram matrices: element-wise max (the paper's 256) or concat (768)",
        choices=("max", "concat"),
    )
    inject_failure_marker: str = setting("", "tests: raise once after the first checkpoint", cli=False)


class MultiHot:
    """Ray Data batch fn for one side of the split: keeps the decoded images of the held-out slice
    (item_idx % HOLDOUT_MOD == 0) or of the rest, and turns label_idx (vocab indices 1..C) into
    labels [B, C] float multi-hot (class c = index - 1). -> {pixels [B, S, S, 3], labels [B, C]}."""

    def __init__(self, num_labels: int, held_out: bool) -> None:
        self.num_labels, self.held_out = num_labels, held_out

    def __call__(self, batch: dict) -> dict:
        in_slice = (np.asarray(batch["item_idx"]) % HOLDOUT_MOD == 0) == self.held_out
        keep = np.flatnonzero(in_slice & np.asarray(batch["image_ok"], bool))
        labels = np.zeros((len(keep), self.num_labels), np.float32)
        for row, i in enumerate(keep):
            idx = np.asarray(batch["label_idx"][i], np.int64) - 1
            labels[row, idx[(idx >= 0) & (idx < self.num_labels)]] = 1.0
        return {"pixels": np.asarray(batch["pixels"])[keep], "labels": labels}


def train_loop(cfg: dict) -> None:
    import ray.train
    import ray.train.torch

    torch.set_num_threads(cfg.get("torch_threads", 1))
    config = ImageEncoderConfig(
        depth=cfg["depth"], num_labels=cfg["num_labels"], image_size=cfg["image_size"], style_merge=cfg["style_merge"]
    )
    model = DualOutputResNet(config)
    opt_state, start_epoch = None, 0
    ckpt = ray.train.get_checkpoint()
    if ckpt:
        with ckpt.as_directory() as d:
            state = load_checkpoint_state(d)
        model.load_state_dict(state["model"])
        opt_state, start_epoch = state["optimizer"], state["epoch"] + 1
    ddp = ray.train.torch.prepare_model(model)
    device = ray.train.torch.get_device()
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    if opt_state:
        opt.load_state_dict(opt_state)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    ctx = ray.train.get_context()
    rank = ctx.get_world_rank()
    train_shard = ray.train.get_dataset_shard("train")
    for epoch in range(start_epoch, cfg["epochs"]):
        model.train()
        total, n = 0.0, 0
        for batch in train_shard.iter_torch_batches(
            batch_size=cfg["batch_size"],
            dtypes={"pixels": torch.uint8, "labels": torch.float32},
            device=device,
            local_shuffle_buffer_size=4 * cfg["batch_size"],
        ):
            opt.zero_grad()
            loss = loss_fn(ddp(normalize_images(batch["pixels"]), head=True), batch["labels"])
            loss.backward()
            opt.step()
            total, n = total + loss.item() * len(batch["labels"]), n + len(batch["labels"])
        metrics = {"epoch": epoch, "train_loss": total / max(n, 1)}
        if rank == 0:
            metrics.update(_evaluate(model, ray.train.get_dataset_shard("valid"), device, cfg["batch_size"]))
            progress_line(
                cfg["progress"],
                f"[pretrain-image] epoch {epoch + 1}/{cfg['epochs']}: train loss {metrics['train_loss']:.4f}, "
                f"valid mAP {metrics.get('valid_map', float('nan')):.3f}",
            )
            with tempfile.TemporaryDirectory() as d:
                save_checkpoint_state(
                    d,
                    {
                        "model": model.state_dict(),
                        "optimizer": opt.state_dict(),
                        "epoch": epoch,
                        "config": config.to_dict(),
                        "metrics": metrics,
                    },
                )
                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(d))
        else:
            ray.train.report(metrics)
        marker = cfg.get("inject_failure_marker")
        if marker and not Path(marker).exists():
            Path(marker).write_text(f"failed once after epoch {epoch}\n")
            raise RuntimeError("injected worker failure (test)")


def _evaluate(model, shard, device, batch_size: int) -> dict:
    model.eval()
    probs, targets = [], []
    with torch.no_grad():
        for batch in shard.iter_torch_batches(
            batch_size=batch_size, dtypes={"pixels": torch.uint8, "labels": torch.float32}, device=device
        ):
            probs.append(torch.sigmoid(model(normalize_images(batch["pixels"]), head=True)).cpu().numpy())
            targets.append(batch["labels"].cpu().numpy())
    if not probs:
        return {}
    p, y = np.concatenate(probs), np.concatenate(targets)
    return {"valid_map": mean_average_precision(p, y), "valid_micro_f1": micro_f1(p, y), "valid_images": int(len(y))}


def pretext_examples(config: PretrainConfig):
    """-> (Ray Dataset of item_idx, image_uri, label_idx; what the labels are). Sets config.num_labels
    when 0. Our lake's pretext table when it has one, else the classes of its own catalogue."""
    import ray.data

    table = storage.join(config.lake, "pretext_image_labels")
    if storage.is_delta_table(table):
        config.num_labels = config.num_labels or vocab_sizes(config.lake)["pretext_label"]
        return ray.data.read_delta(table, columns=["item_idx", "image_uri", "label_idx"]), {"source": table}
    items = storage.join(config.lake, "items")
    if not storage.is_delta_table(items):
        raise NothingToLearnError(
            f"{config.lake}: no pretext_image_labels table (written by `umair prep`) and no items table "
            "(written by `umair featurize` with item_content): nothing to pre-train the image encoder on"
        )
    examples, names = catalogue_pretext(
        read_table(items, ["item_idx", "image_uri", "tags"]), config.pretext_min_items, config.pretext_max_labels
    )
    config.num_labels = config.num_labels or len(names)
    log.info("pretext from %s: %d items with images, %d classes", items, examples.num_rows, len(names))
    return ray.data.from_arrow(examples), {"source": items, "items": examples.num_rows, "classes": names}


def run(config: PretrainConfig, address: str | None = None) -> dict:
    init_ray(address)
    ds, pretext = pretext_examples(config)
    decode = DecodeImages(config.image_size)
    prepared = ds.map_batches(decode, batch_size=64)
    if ds.count() * config.image_size**2 * 3 < 2 * 1024**3:  # small enough: decode once, not every epoch
        prepared = prepared.materialize()
    train = prepared.map_batches(MultiHot(config.num_labels, held_out=False), batch_size=64)
    valid = prepared.map_batches(MultiHot(config.num_labels, held_out=True), batch_size=64)
    checkpoints = storage.join(config.out, "ray_runs")
    spec = TrainerSpec("pretrain-image-encoder", checkpoints, config.num_workers, config.use_gpu, config.max_failures)
    result = fit_trainer(
        train_loop,
        asdict(config),
        spec,
        {"train": train, "valid": valid},
        asdict(config),
        progress_file(checkpoints, f"{spec.name}.progress.log"),
        split=["train"],
    )
    checkpoint = final_checkpoint(result)
    with checkpoint.as_directory() as d:
        state = load_checkpoint_state(d)
    model = DualOutputResNet(ImageEncoderConfig(**state["config"]))
    model.load_state_dict(state["model"])
    # The version names how e_STY was merged: `embed` writes it on every item_features row.
    version = f"dual-resnet{config.depth}-sty{config.style_merge}-e{state['epoch'] + 1}-{Path(checkpoint.path).name}"
    out = save_image_encoder(config.out, state["config"], model.encoder_state_dict(), version)
    summary = {
        "version": version,
        "config": asdict(config),
        "pretext": pretext,
        "final": state["metrics"],
        "checkpoint": checkpoint.path,
        "history": [
            m for m in (result.metrics_dataframe.to_dict("records") if result.metrics_dataframe is not None else [])
        ],
    }
    write_json(storage.join(out, "metrics.json"), summary)
    log.info("image encoder written to %s", out)
    return summary


def build_parser() -> argparse.ArgumentParser:
    return app_parser("Pre-train the dual-output image encoder (Ray Train, DDP).", PretrainConfig, "pretrain_image")


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    setup_console()
    config = config_from_args(PretrainConfig, a, "pretrain_image")
    try:
        summary = run(config, a.address)
    except NothingToLearnError as e:
        raise SystemExit(f"pretrain-image: {e}") from None
    f = summary["final"]
    print(
        f"image encoder {summary['version']}: valid mAP {f.get('valid_map', float('nan')):.3f}, "
        f"micro-F1 {f.get('valid_micro_f1', float('nan')):.3f} -> {storage.join(config.out, 'image_encoder')}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
