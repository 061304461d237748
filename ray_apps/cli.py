"""The `umair` command: one entry point for every stage. Subcommands import their stage lazily,
so `umair generate` starts no Ray and `umair train` starts no Spark."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

# name -> (module, one-line help). Each module has build_parser() and main(argv).
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("ray_apps.demo", "the whole pipeline on the sample site: generate ... serve (the README's main command)"),
    "generate": ("spark_jobs.generate_site", "write the sample illustration site (raw landing zone) with Spark"),
    "prep": (
        "spark_jobs.build_datasets",
        "raw landing zone -> Delta lake (validation, labels, split, vocab) with Spark",
    ),
    "ingest": (
        "spark_jobs.ingest",
        "take the days that arrived (RAW/<dataset>/date=D/) into the lake: merge, extend vocabularies, roll splits (Spark)",
    ),
    "featurize": (
        "spark_jobs.featurize",
        "your own interaction / CTR tables -> indexed Delta splits + dataset.yaml for train / compare (Spark)",
    ),
    "pretrain-image": (
        "ray_apps.encoders.pretrain_image",
        "pre-train the dual-output image encoder on image->tags (Ray Train)",
    ),
    "finetune-text": (
        "ray_apps.encoders.finetune_text",
        "fine-tune the text encoder on text pairs, in-batch negatives (Ray Train)",
    ),
    "embed": ("ray_apps.encoders.embed", "embed every item with both encoders into item_features (Ray Data)"),
    "train": ("ray_apps.ranker.job", "train + evaluate UMAIR-FPS or a baseline (Ray Train, DDP)"),
    "tune": (
        "ray_apps.ranker.tune",
        "tune a ranker's settings on the validation split, one search for every model (Ray Tune)",
    ),
    "compare": (
        "ray_apps.ranker.compare",
        "train UMAIR-FPS, the six baselines and the Table 4 ablations; write the report",
    ),
    "report": ("ray_apps.ranker.report", "write report.md + charts (Tables 3 and 4, oracle AUC) for a runs folder"),
    "export": (
        "ray_apps.serve.export",
        "precompute a trained run's item side and nearest-neighbour index for serving (RUN/serving/)",
    ),
    "serve": ("ray_apps.serve.deploy", "serve a trained run over HTTP: /v1/rank, /v1/recommend (Ray Serve)"),
    "gate": (
        "ray_apps.lifecycle.gate",
        "promotion gate: a challenger run against the champion on the same test rows (paired bootstrap)",
    ),
    "promote": (
        "ray_apps.lifecycle.promote",
        "make a gated run the champion (MLflow alias) and swap the endpoint to it",
    ),
    "cycle": (
        "ray_apps.lifecycle.cycle",
        "one day's cycle: ingest -> warm-started challenger -> gate -> promote (holds the lifecycle lock)",
    ),
    "rollback": (
        "ray_apps.lifecycle.promote:rollback_main",
        "return the champion alias and the endpoint to the previous champion",
    ),
}


def _dispatch(module: str) -> Callable[[list[str]], int]:
    import importlib

    name, _, attr = module.partition(":")  # "package.module" runs its main; "package.module:func" runs func
    return getattr(importlib.import_module(name), attr or "main")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="umair",
        description="UMAIR-FPS: multimodal illustration recommender on Spark + Ray. "
        "Run `umair <command> --help` for a command's flags and defaults.",
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name, (_, text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=text, add_help=False)
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        parser.error(f"unknown command {name!r}; choose one of: {', '.join(SUBCOMMANDS)}")
    return int(_dispatch(SUBCOMMANDS[name][0])(rest) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
