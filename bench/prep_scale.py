"""The preprocessing job at the paper's scale on this machine.

    python bench/prep_scale.py [--raw /tmp/paper/raw] [--lake /tmp/paper/lake]

Generates the `paper` site without images when RAW is missing (about 4 minutes here), then runs
the whole prep job, timing each stage. Prints rows/s per stage, the total and the peak resident
memory of this process tree, sampled every second (Spark driver JVM + Python); writes JSON. Target: < 15 minutes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import PeakTreeMemory, save_result  # noqa: E402


def main() -> int:
    from spark_jobs.build_datasets import build
    from spark_jobs.generate_site import generate
    from spark_jobs.session import get_spark

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--raw", default="/tmp/paper/raw")
    p.add_argument("--lake", default="/tmp/paper/lake")
    p.add_argument("--driver-memory", default="16g")
    p.add_argument("--out", default="bench/results/prep_scale.json")
    a = p.parse_args()
    spark = get_spark(
        "umair-bench-prep", "local[*]", {"spark.driver.memory": a.driver_memory, "spark.sql.shuffle.partitions": "64"}
    )
    if not Path(a.raw, "_manifest.json").exists():
        generate(spark, "paper", a.raw, images=False)
    t = time.time()
    with PeakTreeMemory() as memory:
        record = build(spark, a.raw, a.lake)
    total = time.time() - t
    stages = record["stages"]
    result = {
        "total_seconds": round(total, 1),
        "stage_seconds": stages["seconds"],
        "stage_rows_per_s": {k: round(stages["rows"][k] / max(stages["seconds"][k], 1e-9)) for k in stages["rows"]},
        "interactions_in": record["counts"]["interactions"]["in"],
        "examples": {k: v["rows"] for k, v in record["splits"].items()},
        "peak_rss_gib_driver_tree": memory.peak_gb,
    }  # Python driver + Spark JVM (local mode: executors inside)
    save_result(result, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
