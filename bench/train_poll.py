"""The fixed cost of a short Ray Train run against its controller's poll interval.

    python bench/train_poll.py --lake LAKE [--intervals 2,1,0.5,0.2] [--repeats 3] [--out ...]

Ray Train's controller polls its workers every RAY_TRAIN_HEALTH_CHECK_INTERVAL_S (Ray's default 2 s);
a run's start and its end each wait on polls. Trains the same small run (DCN-V2, 2 epochs, 2 workers,
batch 256, streamed splits) `repeats` times per interval, in one Ray session, the intervals
interleaved round by round so a slower moment of the machine does not land on one interval; reports
each run's wall time and its steady training samples/s (the polls must not slow the training itself).
ray_apps/trainer.py sets the default (CONTROLLER_POLL_S) from what this measures. LAKE: the tiny
lake (e.g. a `make demo SIZE=tiny` workdir's lake) keeps the training part small, so the fixed
cost shows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _results import save_result  # noqa: E402

VARIABLE = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lake", required=True)
    p.add_argument("--intervals", default="2,1,0.5,0.2", help="poll intervals in seconds, comma-separated")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "train_poll.json"))
    a = p.parse_args()

    from ray_apps.ranker.config import TrainConfig
    from ray_apps.ranker.job import run
    from ray_apps.runtime import init_ray

    init_ray()
    intervals = a.intervals.split(",")
    config = TrainConfig(model="dcn_v2", overrides={"dnn_hidden": [64, 32]}, batch_size=256, num_workers=2, epochs=2)
    runs = tempfile.mkdtemp(prefix="train_poll_")
    seen: dict[str, list[tuple[float, float]]] = {i: [] for i in intervals}
    for round_ in range(a.repeats):
        for interval in intervals:
            os.environ[VARIABLE] = interval  # Ray Train hands it from this driver to the run's controller
            t = time.time()
            record = run(a.lake, runs, config, run_name=f"poll_{interval}")
            seen[interval].append((time.time() - t, record["train_samples_per_s"]))
            print(f"round {round_ + 1}, poll {interval} s: {seen[interval][-1][0]:.1f} s", flush=True)
    result = {
        "lake": a.lake,
        "config": "dcn_v2, 2 epochs, 2 workers, batch 256, streamed",
        "per_interval": {
            i: {
                "wall_s": [round(w, 1) for w, _ in v],
                "median_wall_s": round(statistics.median(w for w, _ in v), 1),
                "median_train_samples_per_s": round(statistics.median(s for _, s in v)),
            }
            for i, v in seen.items()
        },
    }
    save_result(result, a.out)


if __name__ == "__main__":
    main()
