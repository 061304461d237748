"""embed_items (Ray Data pipeline) vs the bare encoder forward pass on the same images, one process.

    python bench/embed_cpu.py --lake LAKE --models MODELS

(a) bare: decode + both encoders in one loop in this process, all cores, batch 64;
(b) `embed_items` end to end (read Delta, CPU decode tasks, encoder actor, write Delta).
Prints items/s of both and the ratio pipeline / bare (target >= 0.7); writes JSON.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import save_result  # noqa: E402

from ray_apps.artifacts import image_encoder_config  # noqa: E402
from ray_apps.encoders.embed import EmbedConfig, ItemEncoder, run  # noqa: E402
from ray_apps.encoders.images import DecodeImages  # noqa: E402
from ray_apps.lake import read_table  # noqa: E402


def bare(lake: str, models: str, batch: int) -> float:
    items = read_table(Path(lake, "items"), ["item_idx", "illust_id", "image_uri", "tags"]).to_pandas()
    decode, encode = DecodeImages(int(image_encoder_config(models)["image_size"])), ItemEncoder(models, use_gpu=False)
    t = time.perf_counter()
    for start in range(0, len(items), batch):
        part = items.iloc[start : start + batch]
        encode(
            decode(
                {c: np.asarray(part[c].tolist(), dtype=object) if c in ("tags",) else part[c].to_numpy() for c in part}
            )
        )
    return len(items) / (time.perf_counter() - t)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lake", required=True)
    p.add_argument("--models", required=True)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--out", default="bench/results/embed_cpu.json")
    a = p.parse_args()
    result = {"threads": torch.get_num_threads(), "bare_items_per_s": round(bare(a.lake, a.models, a.batch_size), 1)}
    summary = run(EmbedConfig(lake=a.lake, models=a.models, batch_size=a.batch_size))
    result["pipeline_items_per_s"] = summary["items_per_s"]
    result["ratio"] = round(result["pipeline_items_per_s"] / result["bare_items_per_s"], 3)
    save_result(result, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
