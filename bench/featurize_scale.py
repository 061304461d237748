"""`featurize` throughput: a generated CTR table of N rows x F categorical fields on this machine.

    .venv/bin/python bench/featurize_scale.py [--rows 20000000] [--fields 20] [--work /tmp/featurize_scale]
        [--out bench/results/featurize_scale.json]

The table (Parquet, written once in 1 M-row files under WORK/data, reused when present): a 0/1
label, an epoch-seconds timestamp and F integer fields with Zipf-like cardinalities from 10 to 1 M.
The job runs as a user would run it (`local[*]`, a random 80/10/10 split, min_count 2); rows/s is
end to end (read -> parse -> split -> vocab -> index -> every Delta commit). Peak memory of the
process tree (driver JVM included). Target: >= 100k rows/s on 2 cores (issue 16).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _results import PeakTreeMemory, save_result  # noqa: E402

CHUNK = 1_000_000


def write_table(folder: Path, rows: int, fields: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if folder.exists() and len(list(folder.glob("*.parquet"))) == -(-rows // CHUNK):
        return
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    cards = np.geomspace(10, 1_000_000, fields).astype(int)
    for i, start in enumerate(range(0, rows, CHUNK)):
        n = min(CHUNK, rows - start)
        cols = {f"c{j}": (rng.zipf(1.3, n) % card).astype(np.int32) for j, card in enumerate(cards)}
        cols["clicked"] = (rng.random(n) < 0.2).astype(np.int8)
        cols["ts"] = (1_700_000_000 + start + np.arange(n)).astype(np.int64)
        pq.write_table(pa.table(cols), folder / f"part-{i:04d}.parquet")
        print(f"  wrote {start + n:,} / {rows:,} rows", flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=20_000_000)
    p.add_argument("--fields", type=int, default=20)
    p.add_argument("--work", type=Path, default=Path("/tmp/featurize_scale"))
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "featurize_scale.json"))
    a = p.parse_args()
    data = a.work / f"data_{a.rows}x{a.fields}"
    write_table(data, a.rows, a.fields)

    from spark_jobs.featurize import featurize
    from spark_jobs.featurize_config import FeaturizeConfig
    from spark_jobs.session import get_spark

    config = FeaturizeConfig.from_dict(
        {
            "interactions": {"path": str(data), "format": "parquet"},
            "label": {"column": "clicked"},
            "timestamp": {"column": "ts", "unit": "s"},
            "split": {"by": "random", "valid": 0.1, "test": 0.1, "seed": 0},
            "min_count": 2,
            "features": [{"name": f"c{j}", "kind": "categorical"} for j in range(a.fields)],
        }
    )
    spark = get_spark("featurize-scale")
    lake = a.work / "lake"
    with PeakTreeMemory() as mem:
        t = time.time()
        record = featurize(spark, config, str(lake))
        seconds = time.time() - t
    save_result(
        {
            "rows": a.rows,
            "fields": a.fields,
            "cores": __import__("os").cpu_count(),
            "seconds": round(seconds, 1),
            "rows_per_s": round(a.rows / seconds),
            "target_rows_per_s": 100_000,
            "peak_memory_gb": round(mem.peak_gb, 2),
            "stages_seconds": record["stages"]["seconds"],
            "vocab_rows": record["tables"]["vocab"],
        },
        a.out,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
