"""The stages of `umair demo` over one work folder: generate (Spark) -> prep (Spark -> Delta) ->
pretrain-image, finetune-text (Ray Train) -> embed (Ray Data) -> compare + report (Ray Train). Each stage
records a marker in WORKDIR/.stages and is skipped while its marker is current (ray_apps/demo.py runs
them in order and then serves)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path


class Stages:
    def __init__(self, workdir: Path, force: bool) -> None:
        self.dir = workdir / ".stages"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.force, self.previous = force, 0.0
        self.timings: dict[str, float] = {}

    def run(self, name: str, fn: Callable[[], str], fingerprint: dict) -> None:
        marker = self.dir / f"{name}.json"
        current = (
            marker.exists()
            and not self.force
            and json.loads(marker.read_text()).get("fingerprint") == fingerprint
            and marker.stat().st_mtime >= self.previous
        )
        print(f"\n=== [{len(self.timings) + 1}] {name} ===", flush=True)
        if current:
            where = json.loads(marker.read_text())["output"]
            print(f"    up to date, skipped (outputs: {where}; --force redoes it)")
            self.timings[name] = 0.0
        else:
            t = time.time()
            where = fn()
            self.timings[name] = round(time.time() - t, 1)
            marker.write_text(json.dumps({"fingerprint": fingerprint, "output": where, "seconds": self.timings[name]}))
            print(f"    done in {self.timings[name]} s -> {where}", flush=True)
        self.previous = marker.stat().st_mtime


def active_spark():
    """The active SparkSession, or None (without importing pyspark when nothing has used it)."""
    import sys

    if "pyspark" not in sys.modules:
        return None
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


def _spark():
    """The caller's active session as it is (a notebook's, the test session's), else the demo's own."""
    from spark_jobs.session import get_spark

    return active_spark() or get_spark("umair-demo")


STAGE_NAMES = ("generate", "prep", "pretrain-image", "finetune-text", "embed", "compare")


class DemoPipeline:
    """The demo's stages over one work folder (raw/, lake/, models/, runs/, .stages/), each run through
    `Stages` so a current one is skipped. `summaries[stage]`: what the stage's job returned, when it ran.
    The test session builds its tiny site, lake and encoders with this class, stage by stage."""

    def __init__(self, workdir: Path, size: str, seed: int, profile: dict, force: bool = False) -> None:
        self.workdir, self.size, self.seed, self.profile, self.force = workdir, size, seed, profile, force
        self.raw, self.lake = workdir / "raw", workdir / "lake"
        self.models, self.runs = workdir / "models", workdir / "runs"
        self.stages = Stages(workdir, force)
        self.summaries: dict[str, dict] = {}

    def run(self, name: str) -> None:
        """Run stage `name` (one of STAGE_NAMES) unless its marker is current."""
        p = self.profile
        stages: dict[str, tuple[Callable[[], str], dict]] = {  # name: (job, what its marker must match)
            "generate": (self._generate, {"size": self.size, "seed": self.seed}),
            # a lake from before prep wrote its spec is redone
            "prep": (self._prep, {"writes": "tables + dataset.yaml"}),
            "pretrain-image": (self._pretrain, {"epochs": p["image_epochs"], "size": p["image_size"]}),
            "finetune-text": (self._finetune, {"epochs": p["text_epochs"]}),
            "embed": (self._embed, {}),
            "compare": (
                self._compare,
                {
                    "models": p["models"],
                    "variants": p["variants"],
                    "epochs": p["epochs"],
                    "batch": p["batch_size"],
                    "early_stop": p["early_stop"],
                    "controls": p["controls"],
                },
            ),
        }
        job, fingerprint = stages[name]
        self.stages.run(name, job, fingerprint)

    def _generate(self) -> str:
        from spark_jobs.generate_site import generate, print_manifest

        self.summaries["generate"] = generate(_spark(), self.size, str(self.raw), self.seed)
        print_manifest(self.summaries["generate"])
        return str(self.raw)

    def _prep(self) -> str:
        from spark_jobs.build_datasets import build, print_record

        self.summaries["prep"] = build(_spark(), str(self.raw), str(self.lake))
        print_record(self.summaries["prep"])
        return str(self.lake)

    def _pretrain(self) -> str:
        from ray_apps.encoders.pretrain_image import PretrainConfig, run

        p = self.profile
        config = PretrainConfig(
            lake=str(self.lake), out=str(self.models), epochs=p["image_epochs"], image_size=p["image_size"]
        )
        s = self.summaries["pretrain-image"] = run(config)
        print(f"    image encoder valid mAP {s['final'].get('valid_map', float('nan')):.3f}")
        return str(self.models / "image_encoder")

    def _finetune(self) -> str:
        from ray_apps.encoders.finetune_text import FinetuneConfig, run

        config = FinetuneConfig(lake=str(self.lake), out=str(self.models), epochs=self.profile["text_epochs"])
        s = self.summaries["finetune-text"] = run(config)
        b, a, v = s["before"]["multilingual"], s["after"]["multilingual"], s["vocabulary"]
        print(
            f"    multilingual held-out Recall@1 {b['recall_at_1']:.3f} -> {a['recall_at_1']:.3f}; [UNK] share of the item "
            f"tags {v['unk_share_before']:.1%} -> {v['unk_share_after']:.1%} ({v['added_tokens']} tokens added)"
        )
        return str(self.models / "text_encoder")

    def _embed(self) -> str:
        from ray_apps.encoders.embed import EmbedConfig, run

        s = self.summaries["embed"] = run(EmbedConfig(lake=str(self.lake), models=str(self.models)))
        print(f"    {s['rows']:,} items embedded ({s['items_per_s']} items/s); without image vectors: {s['not_ok']}")
        return s["path"]

    def _compare(self) -> str:
        from ray_apps.ranker.compare import compare
        from ray_apps.ranker.config import TrainConfig
        from ray_apps.ranker.plan import parse_variants
        from ray_apps.ranker.report import write_report
        from umair_models.models.registry import BASELINES

        p = self.profile
        chosen = ["umair_fps", *BASELINES] if p["models"] == "all" else list(p["models"])
        variants = parse_variants(p["variants"]) if isinstance(p["variants"], str) else list(p["variants"])
        compare(
            str(self.lake),
            str(self.runs),
            chosen,
            variants,
            TrainConfig(epochs=p["epochs"], batch_size=p["batch_size"], early_stop=p["early_stop"]),
            force=self.force,
            parallel=p["parallel"],
            controls=list(p["controls"]),
        )
        report = write_report(self.runs, self.raw)
        print(report.read_text())
        return str(report)
