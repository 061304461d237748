"""The serving export and the neighbour index at the paper's catalogue size (1.88 M items).

    python bench/serve_export.py [--items 1880000] [--out bench/results/serve_export.json]

STAND-IN VECTORS: the items' e_TSEM / e_SEM / e_STY (the paper's widths 512 / 768 / 256, float16)
are drawn around 2,000 random "styles" per modality, not encoded from images (encoding 1.88 M
images on 2 CPU cores is not the point here), and the UMAIR-FPS projections are freshly
initialised, not trained. Every figure in the output is flagged `stand_in_vectors: true`.

Measures, in order:
1. raw item tables (what a replica held before) vs the export (`CTRModel.export_item_side`:
   projected to the common width 64, float16), bytes per item and in all; time of the export;
2. the neighbour index (`ray_apps.serve.retrieval.build_ann`: faiss HNSW over 8-bit rows of the
   unit-normed e_TSEM ++ e_STY projections): build time, bytes; recall@100 against exact search for
   queries made as the endpoint makes them (the mean of 5 items); single-thread query latency;
3. resident memory of a fresh process that loads what a replica loads from the export (the model
   built from its record, `use_item_side`, the faiss index), without the feature store and the
   retrieval tables (those need the paper-size lake: issue 18 item 4).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import PeakTreeMemory, save_result  # noqa: E402

WIDTHS = {"e_tsem": 512, "e_sem": 768, "e_sty": 256}  # the paper's
STYLES = 2_000
CHUNK = 100_000


def paper_spec(items: int):
    from umair_models.features import FeatureSpec, FieldSpec

    return FeatureSpec(
        [
            FieldSpec("user_idx", "categorical", vocab_size=215_000, group="user"),
            FieldSpec("item_idx", "categorical", vocab_size=items + 1, group="item"),
            FieldSpec("item_type", "categorical", vocab_size=4, group="item"),
            FieldSpec("hour", "categorical", vocab_size=25, group="context"),
            *[FieldSpec(n, "pretrained", dim=d, group="item", lookup="item_idx") for n, d in WIDTHS.items()],
        ]
    )


def stand_in_rows(items: int, seed: int = 0):
    """Yield (modality, first row, [n, dim] float32) for rows 1..items: CHUNK rows at a time, each row
    a random one of STYLES centres plus noise (sd 0.5). STAND-IN, not encoded from anything."""
    rng = np.random.default_rng(seed)
    for name, dim in WIDTHS.items():
        centres = rng.normal(size=(STYLES, dim)).astype(np.float32)
        for start in range(1, items + 1, CHUNK):
            n = min(CHUNK, items + 1 - start)
            yield name, start, centres[rng.integers(0, STYLES, n)] + 0.5 * rng.normal(size=(n, dim)).astype(np.float32)


def fill_stand_in_vectors(model, items: int, seed: int = 0) -> None:
    """Write the stand-in vectors into the model's frozen tables."""
    for name, start, rows in stand_in_rows(items, seed):
        model.lookups[name].vectors[start : start + len(rows)] = torch.from_numpy(rows).half()
    for name in WIDTHS:
        model.lookups[name].present[1:] = True


def replica_memory(folder: Path, model_file: Path) -> dict:
    """RSS of a fresh process that loads the export as ServedRun does (model + item side + ANN)."""
    code = f"""
import json, torch
from pathlib import Path
from ray_apps.serve import export
from ray_apps.serve.retrieval import load_ann
from umair_models.features import FeatureSpec
from umair_models.models.registry import MODELS
def rss(): return int(open('/proc/self/statm').read().split()[1]) * 4096
base = rss()
record = json.loads(open({str(model_file)!r}).read())
cls = MODELS['umair_fps']
model = cls(FeatureSpec.from_dict(record['spec']), cls.config_class.from_dict(record['config']))
model.use_item_side(export.load_item_side(Path({str(folder)!r})))
ann = load_ann(Path({str(folder / "neighbours.faiss")!r}))
hwm_kb = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM'))  # this program's peak
print(json.dumps({{"after_imports_gb": base / 2**30, "loaded_gb": rss() / 2**30,
                   "peak_gb": hwm_kb / 2**20}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {k: round(v, 2) for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, default=1_880_000)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--work", default="/tmp/umair_serve_export")
    p.add_argument("--out", default="bench/results/serve_export.json")
    a = p.parse_args()
    import faiss
    from safetensors.torch import save_file

    from ray_apps.serve import export
    from ray_apps.serve.retrieval import SPACE_MODALITIES, build_ann, neighbour_space, recall_at, save_ann
    from umair_models.models.registry import build_model

    work = Path(a.work)
    folder = work / export.FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    result: dict = {"items": a.items, "stand_in_vectors": True, "widths": WIDTHS}
    torch.manual_seed(0)
    with PeakTreeMemory() as mem:
        model = build_model("umair_fps", paper_spec(a.items)).eval()
        t = time.perf_counter()
        fill_stand_in_vectors(model, a.items)
        print(f"stand-in vectors written in {time.perf_counter() - t:.0f} s", flush=True)
        raw_bytes = sum(lk.vectors.numel() * lk.vectors.element_size() for lk in model.lookups.values())
        t = time.perf_counter()
        exported = model.export_item_side()
        result["export_s"] = round(time.perf_counter() - t, 1)
        export_bytes = sum(v.numel() * v.element_size() + p.numel() for v, p in exported.values())
        result |= {
            "raw_bytes_per_item": raw_bytes // (a.items + 1),
            "raw_gb": round(raw_bytes / 2**30, 2),
            "export_bytes_per_item": export_bytes // (a.items + 1),
            "export_gb": round(export_bytes / 2**30, 3),
        }
        print(f"export: {result['export_s']} s, {result['raw_gb']} GB raw -> {result['export_gb']} GB", flush=True)
        tensors = {f"{n}.vectors": v for n, (v, _) in exported.items()} | {
            f"{n}.present": p for n, (_, p) in exported.items()
        }
        save_file(tensors, str(folder / export.ITEM_SIDE_FILE))
        (work / "model.json").write_text(
            json.dumps({"spec": model.spec.to_dict(), "config": model.config.to_dict()}, default=list)
        )
        del model
        space = neighbour_space([exported[m][0].float().numpy() for m in SPACE_MODALITIES])
        del exported
        t = time.perf_counter()
        ann = build_ann(space)
        result["ann"] = type(ann).__name__
        result["ann_build_s"] = round(time.perf_counter() - t, 1)
        save_ann(ann, folder / "neighbours.faiss")
        result["ann_gb"] = round((folder / "neighbours.faiss").stat().st_size / 2**30, 3)
        print(f"{result['ann']}: built in {result['ann_build_s']} s, {result['ann_gb']} GB", flush=True)
        exact = faiss.IndexFlatIP(space.shape[1])
        exact.add(space)
        rng = np.random.default_rng(1)
        queries = np.stack([space[rng.integers(1, len(space), 5)].mean(0) for _ in range(a.queries)])
        result["recall_at_100"] = round(recall_at(ann, exact, queries, 100), 4)
        faiss.omp_set_num_threads(1)  # one request's search, as in a replica
        times = []
        for q in queries:
            t = time.perf_counter()
            ann.search(q[None], 101)
            times.append((time.perf_counter() - t) * 1000)
        result["query_ms_p50"], result["query_ms_p99"] = (round(float(np.percentile(times, x)), 2) for x in (50, 99))
        print(f"recall@100 {result['recall_at_100']}, query p99 {result['query_ms_p99']} ms", flush=True)
    result["build_peak_gb"] = mem.peak_gb
    result["replica"] = replica_memory(folder, work / "model.json")
    save_result(result, a.out)


if __name__ == "__main__":
    main()
