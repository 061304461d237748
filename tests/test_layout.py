"""The package layout rules, read from the source with `ast` (no imports run).

- A stage of ray_apps (encoders, ranker, serve, lifecycle) never imports another stage's training or
  app module: artifacts are read back through `ray_apps.artifacts` or the producing stage's reader
  module (e.g. `encoders.item_features`), never through the code that trains them. Orchestrators
  (the CLI, the demo, promotion, the daily cycle) are the exception: driving other stages is their job.
- Shared modules (artifacts, lake, runtime, settings) import no stage's training or app module.
- umair_models imports neither Spark nor Ray.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("encoders", "ranker", "serve", "lifecycle")
# Modules that train or serve: what other stages must not import.
TRAINING_OR_APP = {
    "ray_apps.encoders.pretrain_image",
    "ray_apps.encoders.finetune_text",
    "ray_apps.encoders.embed",
    "ray_apps.ranker.job",
    "ray_apps.ranker.loop",
    "ray_apps.ranker.worker",
    "ray_apps.ranker.compare",
    "ray_apps.ranker.tune",
    "ray_apps.serve.app",
    "ray_apps.serve.deploy",
    "ray_apps.serve.export",
    "ray_apps.lifecycle.gate",
    "ray_apps.lifecycle.promote",
    "ray_apps.lifecycle.cycle",
}
# Modules whose job is to drive other stages' apps, like the CLI and the demo: promotion swaps the
# endpoint (ray_apps.serve.deploy) after the gate; the cycle trains (ray_apps.ranker.job), gates and promotes.
ORCHESTRATORS = {"ray_apps.lifecycle.promote", "ray_apps.lifecycle.cycle"}
SHARED = (
    "ray_apps.artifacts",
    "ray_apps.console",
    "ray_apps.lake",
    "ray_apps.runtime",
    "ray_apps.settings",
    "ray_apps.trainer",
)


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "ray_apps" and parts[1] in STAGES else None


def test_no_stage_imports_another_stages_training_or_app_module():
    bad = []
    for path in sorted((ROOT / "ray_apps").rglob("*.py")):
        module, stage = _module_name(path), _stage(_module_name(path))
        if (stage is None and module not in SHARED) or module in ORCHESTRATORS:
            continue  # the CLI, the demo and promotion orchestrate stages
        for imported in imports_of(path):
            if imported in TRAINING_OR_APP and _stage(imported) != stage:
                bad.append(f"{module} imports {imported}")
    assert not bad, "stage boundaries crossed:\n" + "\n".join(bad)


def test_the_rule_catches_a_crossing(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from ray_apps.ranker.job import run\n")
    assert "ray_apps.ranker.job" in imports_of(probe)


def test_umair_models_imports_neither_spark_nor_ray():
    bad = [
        f"{_module_name(p)} imports {m}"
        for p in sorted((ROOT / "umair_models").rglob("*.py"))
        for m in imports_of(p)
        if m.split(".")[0] in ("pyspark", "ray")
    ]
    assert not bad, bad


def test_every_stage_module_is_known_to_the_rule():
    """A new training / app module must be added to TRAINING_OR_APP (or be a reader), not slip past."""
    entry_points = {
        _module_name(p)
        for stage in STAGES
        for p in (ROOT / "ray_apps" / stage).glob("*.py")
        if "def main(" in p.read_text() or "@serve.deployment" in p.read_text()
    }
    readers_with_a_main = {"ray_apps.ranker.report"}  # writes report.md from finished runs; trains nothing
    assert entry_points - readers_with_a_main <= TRAINING_OR_APP


def test_no_package_or_benchmark_imports_the_tests():
    """Helpers tests and benchmarks share live in the packages (e.g. ray_apps.serve.raw_http), not in tests/."""
    bad = [
        f"{p.relative_to(ROOT)} imports {m}"
        for folder in ("bench", "ray_apps", "spark_jobs", "umair_models")
        for p in sorted((ROOT / folder).rglob("*.py"))
        for m in imports_of(p)
        if m.split(".")[0] == "tests"
    ]
    assert not bad, bad
