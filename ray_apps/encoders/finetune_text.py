"""Ray Train: fine-tune the multi-perspective text encoder on the lake's `text_pairs`.

    python -m ray_apps.encoders.finetune_text --lake LAKE --out MODELS [--base DIR] [--epochs 2]
    umair finetune-text --lake LAKE --out MODELS

In-batch-negatives fine-tuning (TorchTrainer, DDP-ready) on pairs with pair_id % 10 != 0;
evaluation on the held-out pairs (pair_id % 10 == 0) before and after: Recall@1 and MRR, overall
and per perspective (multilingual reported separately). Writes MODELS/text_encoder/ (a
sentence-transformers folder) and MODELS/text_encoder/metrics.json.
"""

from __future__ import annotations

import argparse
import math
import random
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ray_apps.artifacts import save_folder, save_text_encoder, write_json
from ray_apps.console import log, progress_file, progress_line, setup_console
from ray_apps.lake import read_table
from ray_apps.runtime import init_ray
from ray_apps.settings import RayJobSettings, app_parser, config_from_args, setting
from ray_apps.trainer import TrainerSpec, final_checkpoint, fit_trainer
from umair_models import storage
from umair_models.encoders.text import (
    default_base_model,
    embed,
    extend_vocabulary,
    in_batch_negatives_loss,
    load_text_encoder,
    retrieval_metrics,
    tags_text,
    unknown_token_share,
)

HOLDOUT_MOD = 10


@dataclass
class FinetuneConfig(RayJobSettings):
    lake: str = setting(help="lake root (reads text_pairs)")
    out: str = setting(help="models folder; writes OUT/text_encoder/")
    base: str = setting("", "sentence-transformers folder to start from (default: the offline all-MiniLM-L6-v2)")
    epochs: int = setting(2, "passes over the training pairs")
    batch_size: int = setting(32, "pairs per step (the in-batch negatives)")
    lr: float = setting(5e-5, "AdamW learning rate")
    seed: int = setting(0, "seed of the shuffles")
    extend_vocabulary: bool = setting(
        True, "teach the base the catalogue's characters it reads as [UNK] (CJK, kana marks)"
    )


def held_out(pairs) -> tuple[list[dict], list[dict]]:
    rows = pairs.to_pylist()
    return [r for r in rows if r["pair_id"] % HOLDOUT_MOD != 0], [r for r in rows if r["pair_id"] % HOLDOUT_MOD == 0]


def pair_blocks(pairs: int, config: FinetuneConfig) -> int:
    """Blocks of the training pairs' dataset: two per worker, one more per 20k pairs. Left to Ray, a few
    hundred pairs become 200 blocks of three, and each epoch's all-to-all shuffle then runs hundreds of
    tasks: 106 s of a 140 s epoch for the tiny site's 593 pairs (2-core machine, 2026-12-04, beside other
    work); a shuffled pass over them on one Ray CPU took 57 s with 200 blocks, 7 s with 2."""
    return max(2 * config.num_workers, math.ceil(pairs / 20_000))


def evaluate(model, rows: list[dict]) -> dict:
    out = {"all": retrieval_metrics(model, [r["anchor"] for r in rows], [r["positive"] for r in rows])}
    for perspective in sorted({r["perspective"] for r in rows}):
        part = [r for r in rows if r["perspective"] == perspective]
        out[perspective] = retrieval_metrics(model, [r["anchor"] for r in part], [r["positive"] for r in part])
    return out


def train_loop(cfg: dict) -> None:
    import ray.train
    import ray.train.torch

    torch.set_num_threads(cfg.get("torch_threads", 1))
    model = load_text_encoder(str(storage.local_copy(cfg["base"])))  # this node's copy when on object storage
    ckpt, start = ray.train.get_checkpoint(), 0
    if ckpt:
        with ckpt.as_directory() as d:
            model = load_text_encoder(str(Path(d, "model")))
            start = int(Path(d, "epoch").read_text()) + 1
    device = ray.train.torch.get_device()
    model.to(device)
    ddp = ray.train.torch.prepare_model(model, move_to_device=False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"])
    rows = ray.train.get_dataset_shard("train")
    for epoch in range(start, cfg["epochs"]):
        model.train()
        total, n = 0.0, 0
        for batch in rows.iter_batches(
            batch_size=cfg["batch_size"],
            batch_format="numpy",
            local_shuffle_buffer_size=4 * cfg["batch_size"],
            local_shuffle_seed=cfg["seed"] + epoch,
        ):
            if len(batch["anchor"]) < 2:
                continue
            a = embed(model, list(batch["anchor"]), forward=ddp)
            p = embed(model, list(batch["positive"]), forward=ddp)
            loss = (in_batch_negatives_loss(a, p) + in_batch_negatives_loss(p, a)) / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, n = total + loss.item(), n + 1
        metrics = {"epoch": epoch, "train_loss": total / max(n, 1)}
        if ray.train.get_context().get_world_rank() == 0:
            progress_line(
                cfg["progress"],
                f"[finetune-text] epoch {epoch + 1}/{cfg['epochs']}: in-batch loss {metrics['train_loss']:.4f}",
            )
            with tempfile.TemporaryDirectory() as d:
                model.save(str(Path(d, "model")))
                Path(d, "epoch").write_text(str(epoch))
                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(d))
        else:
            ray.train.report(metrics)


def run(config: FinetuneConfig, address: str | None = None) -> dict:
    import ray.data

    config.base = config.base or default_base_model()
    pairs_table = storage.join(config.lake, "text_pairs")
    if not storage.is_delta_table(pairs_table) or not read_table(pairs_table, ["anchor"]).num_rows:
        return hand_on_base(config)
    init_ray(address)
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    pairs = read_table(pairs_table)
    train_rows, test_rows = held_out(pairs)
    base = load_text_encoder(str(storage.local_copy(config.base)))
    before = evaluate(base, test_rows)
    log.info("held-out before fine-tuning: %s", before["all"])
    item_texts = [tags_text(t) for t in read_table(storage.join(config.lake, "items"), ["tags"])["tags"].to_pylist()]
    vocabulary = {"unk_share_before": unknown_token_share(base.tokenizer, item_texts), "added_tokens": 0}
    if config.extend_vocabulary:
        catalogue = item_texts + pairs["anchor"].to_pylist() + pairs["positive"].to_pylist()
        vocabulary["added_tokens"] = len(extend_vocabulary(base, catalogue))
        config.base = storage.join(storage.absolute(config.out), "text_encoder_base")  # the workers start from it
        save_folder(base, config.base)
    vocabulary["unk_share_after"] = unknown_token_share(base.tokenizer, item_texts)
    log.info("text encoder vocabulary: %s", vocabulary)
    checkpoints = storage.join(config.out, "ray_runs")
    spec = TrainerSpec(
        "finetune-text-encoder",
        checkpoints,
        config.num_workers,
        config.use_gpu,
        config.max_failures,
        keep_checkpoints=1,
    )
    pairs = ray.data.from_items(train_rows, override_num_blocks=pair_blocks(len(train_rows), config))
    datasets = {"train": pairs.random_shuffle(seed=config.seed)}
    result = fit_trainer(
        train_loop,
        asdict(config),
        spec,
        datasets,
        asdict(config),
        progress_file(checkpoints, f"{spec.name}.progress.log"),
    )
    checkpoint = final_checkpoint(result)
    with checkpoint.as_directory() as d:
        model = load_text_encoder(str(Path(d, "model")))
    version = f"minilm-ft-{Path(checkpoint.path).name}"
    out = save_text_encoder(config.out, model, version)
    after = evaluate(model, test_rows)
    summary = {
        "version": version,
        "base": config.base,
        "train_pairs": len(train_rows),
        "heldout_pairs": len(test_rows),
        "before": before,
        "after": after,
        "vocabulary": vocabulary,
        "config": asdict(config),
    }
    write_json(storage.join(out, "metrics.json"), summary)
    return summary


def hand_on_base(config: FinetuneConfig) -> dict:
    """No text pairs in the lake (they are optional in the raw contract): the base encoder is written
    unchanged as MODELS/text_encoder/, so `embed` runs; metrics.json says so."""
    version = f"base-{Path(config.base).name}-no-pairs"
    out = save_text_encoder(config.out, load_text_encoder(str(storage.local_copy(config.base))), version)
    summary = {
        "version": version,
        "base": config.base,
        "train_pairs": 0,
        "note": "no text_pairs in the lake: the base encoder is handed on unchanged (not fine-tuned)",
        "config": asdict(config),
    }
    write_json(storage.join(out, "metrics.json"), summary)
    print(f"[finetune-text] {summary['note']}", flush=True)
    return summary


def build_parser() -> argparse.ArgumentParser:
    return app_parser(
        "Fine-tune the text encoder on text pairs with in-batch negatives (Ray Train).", FinetuneConfig, "finetune_text"
    )


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    setup_console()
    config = config_from_args(FinetuneConfig, a, "finetune_text")
    s = run(config, a.address)
    print(f"text encoder {s['version']} -> {storage.join(config.out, 'text_encoder')}")
    if "after" not in s:  # no text pairs: the base handed on, nothing measured
        return 0
    for k in s["after"]:
        b, f = s["before"][k], s["after"][k]
        print(
            f"  {k:<13} Recall@1 {b['recall_at_1']:.3f} -> {f['recall_at_1']:.3f}   MRR {b['mrr']:.3f} -> {f['mrr']:.3f}   "
            f"({f['pairs']} held-out pairs)"
        )
    v = s["vocabulary"]
    print(
        f"  [UNK] share of the item tags {v['unk_share_before']:.1%} -> {v['unk_share_after']:.1%} ({v['added_tokens']} tokens added)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
