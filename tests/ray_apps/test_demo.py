"""`umair demo` end to end on the tiny size, and its re-run skip. Its first five stages (generate, prep,
pretrain-image, finetune-text, embed) are the session's: tests/conftest.py builds the shared tiny site,
lake, encoders and item vectors with the demo's own stages (`tiny_pipeline`). This test starts from a
copy of that work folder, so the demo finds those stages current, and runs compare and serve itself."""

from __future__ import annotations

import json
import shutil

from ray_apps.demo import PROFILES, run_demo
from ray_apps.demo_stages import STAGE_NAMES, DemoPipeline


def _rerun_stages(workdir, profile: dict) -> dict[str, float]:
    """`umair demo`'s stages again over WORKDIR (what a second run does before it serves): -> their timings."""
    pipeline = DemoPipeline(workdir, "tiny", 7, profile)
    for name in STAGE_NAMES:
        pipeline.run(name)
    return pipeline.stages.timings


def test_demo_pipeline_end_to_end_on_tiny_then_skips_when_current(
    spark, ray_local, tiny_pipeline, tiny_features, tmp_path, capsys
):
    built = {p.stem: json.loads(p.read_text()) for p in (tiny_pipeline.workdir / ".stages").glob("*.json")}
    assert set(built) == set(STAGE_NAMES[:5]) and all(m["seconds"] > 0 for m in built.values())  # each one ran
    shutil.copytree(tiny_pipeline.workdir, tmp_path, dirs_exist_ok=True)  # copy2: the markers keep their order
    profile = PROFILES["tiny"]
    result = run_demo(tmp_path, "tiny", 7, force=False, keep_serving=False, profile=profile, port=8877)
    out = capsys.readouterr().out
    for stage in ("generate", "prep", "pretrain-image", "finetune-text", "embed", "compare", "serve"):
        assert f"] {stage} ===" in out
    assert all(result["stages"][s] == 0.0 for s in STAGE_NAMES[:5]) and result["stages"]["compare"] > 0
    assert result["answer"]["results"] and all(0 <= r["score"] <= 1 for r in result["answer"]["results"])
    report = (tmp_path / "runs" / "report.md").read_text()
    assert "UMAIR-FPS" in report and "DCN-V2" in report and "Oracle" in report and "w/o STY" in report
    assert "## Where the AUC goes" in report and "| e_STY (style) |" in report
    assert (tmp_path / "runs" / "charts" / "auc.png").stat().st_size > 0
    again = _rerun_stages(tmp_path, profile)
    assert all(again[s] == 0.0 for s in STAGE_NAMES)
    markers = {p.stem: json.loads(p.read_text()) for p in (tmp_path / ".stages").glob("*.json")}
    assert set(markers) == {"generate", "prep", "pretrain-image", "finetune-text", "embed", "compare"}
    # A changed budget re-runs the compare stage and retrains the runs it names with that budget.
    changed = {**profile, "models": ["dcn_v2"], "variants": [], "epochs": 2}
    third = _rerun_stages(tmp_path, changed)
    assert third["compare"] > 0 and third["embed"] == 0.0
    runs = {
        name: json.loads((tmp_path / "runs" / name / "metrics.json").read_text())["config"]
        for name in ("dcn_v2", "umair_fps")
    }
    assert runs["dcn_v2"]["epochs"] == 2 and runs["umair_fps"]["epochs"] == 1
