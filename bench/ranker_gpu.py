"""GPU benchmark: UMAIR-FPS training throughput in plain PyTorch (no Ray, no Spark).

    python bench/ranker_gpu.py [--batch 8192] [--steps 200] [--scale paper]

The spec has the paper's scale (215k users, 1.88M illustrations, their id/tag vocabularies) and
the item-feature table (e_TSEM 384 + e_SEM 2048 + e_STY 256, fp16) lives on the GPU. Batches are
random indices generated on the GPU, so the figure is the model step (forward, backward, Adam,
embedding L2) and the table gathers. Target: >= 1 M samples/s on one H100.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import save_result  # noqa: E402

from spark_jobs.config import PrepConfig
from umair_models import dataset_spec  # noqa: E402
from umair_models.models import build_model  # noqa: E402

SCALES = {
    "paper": {"users": 215_394, "items": 1_882_675, "tags": 60_000, "artists": 235_000},
    "demo": {"users": 2_000, "items": 5_000, "tags": 1_500, "artists": 600},
}
SMALL = {
    "gender": 4,
    "age": 6,
    "region": 9,
    "language": 4,
    "type": 3,
    "x_restrict": 3,
    "ai_generated": 2,
    "pages": 3,
    "aspect": 3,
    "has_image": 2,
    "item_age": 13,
}
DIMS = {"e_tsem": 384, "e_sem": 2048, "e_sty": 256}


def make_batch(spec, batch: int, dev) -> dict[str, torch.Tensor]:
    out = {}
    for f in spec.fields:
        if f.kind in ("categorical", "index"):
            out[f.name] = torch.randint(0, f.vocab_size, (batch,), device=dev)
        elif f.kind == "multi_categorical":
            out[f.name] = torch.randint(0, f.vocab_size, (batch, f.max_len), device=dev)
    out["label"] = torch.randint(0, 2, (batch,), device=dev).float()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=8192)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--scale", choices=SCALES, default="paper")
    p.add_argument("--model", default="umair_fps")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--profile", action="store_true", help="print the top CUDA / CPU ops of 10 steps")
    p.add_argument("--out", default="bench/results/ranker_gpu.json")
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("ranker_gpu: no CUDA device here; run it on a GPU machine.")
        return 0
    dev = torch.device("cuda")
    s = SCALES[args.scale]
    sizes = {
        "user_id": s["users"],
        "illust_id": int(s["items"] * 0.8),
        "tag": s["tags"],
        "artist_id": s["artists"],
        **SMALL,
    }
    prep = PrepConfig()  # the tag lengths a default `umair prep` pads to
    lens = {"tags_idx": prep.max_item_tags, "interest_tags_idx": prep.max_interest_tags}
    lake_spec = dataset_spec.illustration_dataset(sizes, lens, s["items"])
    spec = dataset_spec.feature_spec(lake_spec, sizes, "paper-scale spec", vectors=DIMS)
    model = build_model(args.model, spec).to(dev)
    for name in DIMS:
        if name in model.lookups:  # a random fp16 item-feature table, made on the GPU
            model.lookups[name].vectors.normal_()
            model.lookups[name].present.fill_(True)
    params = model.num_parameters()
    step_model = torch.compile(model) if args.compile else model
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    batches = [make_batch(spec, args.batch, dev) for _ in range(8)]

    def step(b):
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = step_model(b)
        loss = loss_fn(logits.float(), b["label"]) + model.regularization()
        loss.backward()
        opt.step()
        return loss

    for i in range(10):
        step(batches[i % 8])
    torch.cuda.synchronize()
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for i in range(10):
                step(batches[i % 8])
            torch.cuda.synchronize()
        print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=15))
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
    t = time.perf_counter()
    for i in range(args.steps):
        loss = step(batches[i % 8])
    torch.cuda.synchronize()
    dt = time.perf_counter() - t
    sps = args.batch * args.steps / dt
    result = {
        "gpu": torch.cuda.get_device_name(),
        "model": args.model,
        "scale": args.scale,
        "batch": args.batch,
        "steps": args.steps,
        "steps_per_s": round(args.steps / dt, 1),
        "samples_per_s": round(sps),
        "parameters": params,
        "item_table_gb": round(sum(model.lookups[n].vectors.numel() * 2 for n in model.lookups) / 1e9, 2),
        "seconds_for_24M_rows": round(24_233_663 / sps, 1),
        "final_loss": float(loss.detach()),
        "compiled": args.compile,
        "peak_memory_gb": round(torch.cuda.max_memory_allocated() / 1e9, 1),
    }
    save_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
