"""`umair demo`: the whole pipeline on one machine, stage by stage.

    umair demo [--workdir .umair/demo] [--size demo] [--force] [--keep-serving]

generate (Spark) -> prep (Spark -> Delta) -> pretrain-image (Ray Train) -> finetune-text (Ray Train)
-> embed (Ray Data) -> compare UMAIR-FPS / baselines / ablations (Ray Train) + report -> serve
(Ray Serve) and one sample request. Each stage records a marker in WORKDIR/.stages; a re-run
skips stages whose marker is newer than their inputs' (use --force to redo everything).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml

from ray_apps.demo_stages import STAGE_NAMES, DemoPipeline, active_spark
from umair_models.config_files import ConfigError, StrictModel, load_model

# Per-size settings sized for a 2-core, CPU-only machine; deploy/configs/demo.yaml overrides them.
# `epochs` / `batch_size` are the ranker budget, the same for every model in the comparison. The
# demo site has ~90 training rows per user: one pass at batch 256 leaves every model near the
# item-only AUC, while two passes at batch 512 (about the same compute) let the models that see
# the item vectors learn users' tastes; the baselines stay flat over 1-3 epochs (bench/README.md).
# `early_stop`: validate after every epoch, decay the learning rate on a plateau and test the best
# epoch (the protocol of `umair train --early-stop`). `controls`: baselines also trained with the
# item vectors (the report's +MM rows). `parallel`: ranker runs trained at once (two
# single-threaded runs use 2 cores better than one).
PROFILES = {
    "tiny": {
        "image_epochs": 1,
        "image_size": 32,
        "text_epochs": 1,
        "epochs": 1,
        "batch_size": 256,
        "early_stop": True,
        "variants": ["w/o STY"],
        "models": ["umair_fps", "dcn_v2"],
        "controls": [],
        "parallel": 2,
    },
    "demo": {
        "image_epochs": 1,
        "image_size": 64,
        "text_epochs": 1,
        "epochs": 2,
        "batch_size": 512,
        "early_stop": True,
        "variants": ["w/o STY"],
        "models": "all",
        "controls": ["dcn_v2"],
        "parallel": 2,
    },  # deploy/configs/demo.yaml: five Table 4 ablations
    "paper": {
        "image_epochs": 3,
        "image_size": 128,
        "text_epochs": 2,
        "epochs": 1,
        "batch_size": 4096,
        "early_stop": False,
        "variants": "all",
        "models": "all",
        "controls": ["dcn_v2"],
        "parallel": 1,
    },
}


class DemoOverrides(StrictModel):
    """What a settings file's `demo:` section may change of a size's profile (deploy/configs/demo.yaml)."""

    image_epochs: int | None = None
    image_size: int | None = None
    text_epochs: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    early_stop: bool | None = None
    variants: list[str] | str | None = None
    models: list[str] | str | None = None
    controls: list[str] | None = None
    parallel: int | None = None


def _ray_running() -> bool:
    """Whether this process is already connected to Ray (without importing ray when nothing has)."""
    import sys

    return "ray" in sys.modules and bool(sys.modules["ray"].is_initialized())


def run_demo(workdir: Path, size: str, seed: int, force: bool, keep_serving: bool, profile: dict, port: int) -> dict:
    pipeline = DemoPipeline(workdir, size, seed, profile, force)
    raw, lake, models, runs, stages = pipeline.raw, pipeline.lake, pipeline.models, pipeline.runs, pipeline.stages
    t0 = time.time()
    caller_spark = active_spark()  # a session the caller owns (tests) is left running
    caller_ray = _ray_running()  # likewise a Ray the caller started
    for name in STAGE_NAMES:
        pipeline.run(name)
        demo_spark = active_spark() if name == "prep" and caller_spark is None else None
        if demo_spark is not None:
            demo_spark.stop()  # the demo's Spark stages are done: free the JVM's memory and the CPU it takes from Ray

    print(f"\n=== [{len(stages.timings) + 1}] serve ===")
    import requests

    from ray_apps.serve.deploy import start

    url = start(str(runs / "umair_fps"), str(lake), port=port)
    from ray_apps.lake import read_table

    sample = read_table(lake / "interactions_test", ["user_id", "illust_id"]).slice(0, 5).to_pylist()
    body = {"user_id": sample[0]["user_id"], "illust_ids": [r["illust_id"] for r in sample]}
    answer = requests.post(f"{url}/v1/rank", json=body, timeout=30).json()
    print(f"    POST {url}/v1/rank {json.dumps(body)}\n    -> {json.dumps(answer)[:600]}")
    top = requests.post(f"{url}/v1/recommend", json={"user_id": body["user_id"], "k": 5}, timeout=30).json()
    print(f"    POST {url}/v1/recommend -> {[r['illust_id'] for r in top['results']]}")
    total = round(time.time() - t0, 1)
    print(f"\nDemo finished in {total} s. Stage times (s): {stages.timings}")
    print(f"Outputs: raw {raw} | lake {lake} | models {models} | runs + report {runs / 'report.md'}")
    if keep_serving:
        print(f"Serving at {url} until Ctrl-C.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    import ray
    from ray import serve

    if caller_ray:
        serve.shutdown()  # the caller's Ray (tests) stays up; the endpoint goes
    else:
        ray.shutdown()  # the demo's own Ray, endpoint and all (serve.shutdown would log the controller's forced stop)
    return {"seconds": total, "stages": stages.timings, "answer": answer}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Run the whole UMAIR-FPS pipeline on the sample site.")
    p.add_argument("--workdir", default=".umair/demo", help="where every output goes (default: .umair/demo)")
    p.add_argument("--size", choices=sorted(PROFILES), default="demo", help="sample-site size (default: demo)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--config", default=None, help="YAML with a `demo:` section overriding the size's profile")
    p.add_argument("--force", action="store_true", help="redo every stage")
    p.add_argument("--keep-serving", action="store_true", help="keep the endpoint up after the sample request")
    p.add_argument("--port", type=int, default=8000)
    return p


def main(argv: list[str] | None = None) -> int:
    from ray_apps.console import setup_console

    a = build_parser().parse_args(argv)
    setup_console(Path(a.workdir).resolve() / "logs")
    profile = dict(PROFILES[a.size])
    if a.config:
        data = yaml.safe_load(Path(a.config).read_text()) or {}
        section = data.get("demo", {}) if isinstance(data, dict) else data
        try:
            profile.update(load_model(DemoOverrides, section, f"{a.config} (demo:)").model_dump(exclude_unset=True))
        except ConfigError as e:
            raise SystemExit(str(e)) from None
    run_demo(Path(a.workdir).resolve(), a.size, a.seed, a.force, a.keep_serving, profile, a.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
