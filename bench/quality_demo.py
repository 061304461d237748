"""Quality on the demo lake with the full protocol: models, +MM controls and ablations over several
seeds (mean ± sd), beside the learnable ceiling and the oracle.

    make demo                                  # once: builds .umair/demo (raw, lake, encoders, item vectors)
    .venv/bin/python bench/quality_demo.py [--workdir .umair/demo] [--out .umair/demo/quality]
        [--models all] [--controls all] [--variants "w/o STY,w/o UMCM,w/o DCN-V2"] [--seeds 3] [--seed 0]
        [--epochs 4] [--batch-size 512] [--parallel 2] [--oracle-vectors umair_fps,dcn_v2]
        [--random-modality umair_fps,dcn_v2] [--set modality_dropout=0.25] [--tuned TUNED]

Every run: validation AUC after each epoch, learning rate x0.1 on a plateau, patience 2, the best
epoch tested (`umair compare --early-stop`). `--oracle-vectors` (default: UMAIR-FPS and DCN-V2) also
trains those on each item's true attributes, so the report's "Where the AUC goes" splits the loss
into an encoder and a ranker part ("none" skips it). `--random-modality` also trains those with one more
item vector that is noise (the report's "Vectors never hurt"); `--set` overrides a model setting for
every run of the comparison; `--tuned` gives each model and control the settings `umair tune` found for
it. Writes OUT/report.md (the report of `umair compare`)
and prints it; the figures go to bench/README.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    from ray_apps.console import setup_console
    from ray_apps.ranker.compare import compare
    from ray_apps.ranker.config import TrainConfig, parse_overrides
    from ray_apps.ranker.plan import CompareConfig, load_tuned, parse_variants
    from ray_apps.ranker.report import write_report

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workdir", type=Path, default=ROOT / ".umair" / "demo")
    p.add_argument("--out", type=Path, default=None, help="runs folder (default: WORKDIR/quality)")
    p.add_argument("--models", default="all")
    p.add_argument("--controls", default="all")
    p.add_argument("--variants", default="w/o STY,w/o UMCM,w/o DCN-V2")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--seed", type=int, default=0, help="first seed (seeds SEED .. SEED+SEEDS-1)")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--oracle-vectors", default="umair_fps,dcn_v2")
    p.add_argument("--random-modality", default="none")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="model setting for every run")
    p.add_argument("--tuned", default=None, help="folder written by `umair tune`: each model (or control) its settings")
    a = p.parse_args()
    setup_console(announce=False)
    lake, raw = a.workdir / "lake", a.workdir / "raw"
    out = a.out or a.workdir / "quality"
    what = CompareConfig(
        models=a.models, controls=a.controls, seeds=a.seeds, parallel=a.parallel, oracle_vectors=a.oracle_vectors,
        raw=str(raw), random_modality=a.random_modality,
    )  # fmt: skip
    base = TrainConfig(
        seed=a.seed, epochs=a.epochs, batch_size=a.batch_size, early_stop=True, overrides=parse_overrides(a.set)
    )
    t = time.time()
    compare(
        str(lake), str(out), what.model_list(), parse_variants(a.variants), base,
        parallel=a.parallel, controls=what.control_list(), seeds=what.seed_list(base.seed),
        oracle=what.oracle_list(), raw=str(raw), random_modality=what.random_modality_list(),
        tuned=load_tuned(a.tuned),
    )  # fmt: skip
    report = write_report(out, raw)
    print(report.read_text())
    print(f"quality_demo: {time.time() - t:.0f} s -> {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
