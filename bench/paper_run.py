"""The paper's scale end to end on this 2-core machine (issue 18 item 4): the `paper` site generated
and prepared (34 M events), one UMAIR-FPS epoch trained from Delta, the whole test split evaluated,
the serving export built, and the endpoint load-tested with the full catalogue.

    python bench/paper_run.py [--work /tmp/paper] [--batch-size 4096] [--stages prep,vectors,bare,train,export,serve]

STAND-IN ITEM VECTORS: encoding 1.88 M images on 2 CPU cores is not the point here, so `item_features`
is written with clustered random vectors at the widths of bench/serve_export.py (e_TSEM 512, e_SEM
768, e_STY 256), not encoded; the table's `image_encoder` / `text_encoder` columns and every output
of this script say so (`stand_in_vectors: true`). Model quality figures of this run mean nothing.

Each stage runs as its own process (the documented command where there is one), its output in
WORK/logs/<stage>.log, under a sampler of the peak resident memory of its process tree. A stage whose
output exists is skipped; WORK/paper_run.json is rewritten after every stage.
  prep     bench/prep_scale.py (generates the site without images when missing, then `prep`)
  vectors  the stand-in LAKE/item_features
  bare     bench/train_throughput.py --bare-only on the first 1 M training rows (samples/s reference)
  train    umair train --epochs 1 (streamed from Delta, then the whole test split evaluated)
  export   umair export (item side + neighbour index)
  serve    bench/serve_load.py: /v1/rank (100 candidates) at 50 req/s, /v1/recommend (k=10) at 20 req/s
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _results import PeakTreeMemory  # noqa: E402

STAGES = ("prep", "vectors", "bare", "train", "export", "serve")
STAND_IN = "STAND-IN bench/paper_run.py: clustered random vectors, not encoded"
ROWS_PER_COMMIT = 200_000


def write_stand_in_vectors(lake: Path) -> dict:
    """LAKE/item_features for every item of LAKE/items, from bench/serve_export.py's stand-in generator."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from deltalake import DeltaTable, write_deltalake
    from serve_export import WIDTHS, stand_in_rows

    from ray_apps.encoders.embed import SCHEMA
    from ray_apps.encoders.item_features import to_blob
    from ray_apps.lake import read_table

    items = read_table(lake / "items", columns=["item_idx", "illust_id"]).sort_by("item_idx")
    last = int(pc.max(items["item_idx"]).as_py())
    vectors = {name: np.zeros((last + 1, dim), np.float16) for name, dim in WIDTHS.items()}
    for name, start, rows in stand_in_rows(last):
        vectors[name][start : start + len(rows)] = rows
    path = str(lake / "item_features")
    for first in range(0, len(items), ROWS_PER_COMMIT):
        part = items.slice(first, ROWS_PER_COMMIT)
        idx = part["item_idx"].to_numpy()
        n = len(part)
        table = pa.table(
            {
                "item_idx": part["item_idx"],
                "illust_id": part["illust_id"],
                **{name: pa.array(to_blob(vectors[name][idx]), pa.binary()) for name in ("e_sem", "e_sty", "e_tsem")},
                "ok": pa.array(np.ones(n, bool)),
                "error": pa.nulls(n, pa.string()),
                "image_encoder": pa.array([STAND_IN] * n),
                "text_encoder": pa.array([STAND_IN] * n),
            },
            schema=SCHEMA,
        )
        write_deltalake(path, table, mode="overwrite" if first == 0 else "append")
        print(f"  stand-in item_features: {first + n:,} / {len(items):,} items", flush=True)
    return {"items": len(items), "widths": WIDTHS, "version": DeltaTable(path).version()}


def run_stage(name: str, command: list[str], work: Path) -> dict:
    """Run one stage's process with its output in WORK/logs/NAME.log; -> seconds, peak memory, rc."""
    log = work / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"[{name}] {' '.join(command)}  (log: {log})", flush=True)
    started = time.time()
    with PeakTreeMemory() as memory, open(log, "w") as out:
        rc = subprocess.run(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT).returncode
    seconds = time.time() - started
    print(f"[{name}] rc {rc}, {seconds:.0f} s, peak memory of its process tree {memory.peak_gb:.2f} GB", flush=True)
    return {"seconds": round(seconds, 1), "peak_memory_gb": round(memory.peak_gb, 2), "rc": rc}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/paper"))
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--stages", default=",".join(STAGES))
    p.add_argument("--write-vectors", action="store_true", help=argparse.SUPPRESS)  # the vectors stage's process
    a = p.parse_args()
    work, lake, runs = a.work, a.work / "lake", a.work / "runs"
    if a.write_vectors:
        print(json.dumps(write_stand_in_vectors(lake)))
        return 0
    py, umair = sys.executable, str(Path(sys.executable).with_name("umair"))
    run = runs / "umair_fps"
    commands = {
        "prep": [py, "bench/prep_scale.py", "--raw", str(work / "raw"), "--lake", str(lake), "--driver-memory", "12g"]
        + ["--out", str(work / "prep.json")],
        "vectors": [py, "bench/paper_run.py", "--work", str(work), "--write-vectors"],
        "bare": [py, "bench/train_throughput.py", "--lake", str(lake), "--batch-size", str(a.batch_size)]
        + ["--rows", "1000000", "--bare-only", "--out", str(work / "bare.json")],
        "train": [umair, "train", "--lake", str(lake), "--runs", str(runs), "--model", "umair_fps", "--epochs", "1"]
        + ["--batch-size", str(a.batch_size), "--eval-batch-size", "16384", "--num-workers", "1"],
        "export": [umair, "export", "--run", str(run), "--lake", str(lake)],
        "serve": [py, "bench/serve_load.py", "--run", str(run), "--lake", str(lake), "--rates", "50"]
        + ["--seconds", "20", "--recommend-rates", "20", "--out", str(work / "serve.json")],
    }
    done = {
        "prep": work / "prep.json",
        "vectors": lake / "item_features" / "_delta_log",
        "bare": work / "bare.json",
        "train": run / "metrics.json",
        "export": run / "serving",
        "serve": work / "serve.json",
    }
    record_path = work / "paper_run.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {"stand_in_vectors": True}
    for stage in [s for s in a.stages.split(",") if s]:
        if done[stage].exists():
            print(f"[{stage}] done before ({done[stage]}), skipped", flush=True)
            continue
        record[stage] = run_stage(stage, commands[stage], work)
        record_path.write_text(json.dumps(record, indent=2))
        if record[stage]["rc"]:
            print(f"[{stage}] failed: {work / 'logs' / (stage + '.log')}", flush=True)
            return 1
    for name in ("prep", "bare", "serve"):
        if (work / f"{name}.json").exists():
            record[f"{name}_result"] = json.loads((work / f"{name}.json").read_text())
    if done["train"].exists():
        record["train_result"] = json.loads(done["train"].read_text())
    record_path.write_text(json.dumps(record, indent=2))
    print(f"wrote {record_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
