"""`umair demo` end to end on the tiny size (every stage, then a served answer), and its re-run skip."""

from __future__ import annotations

import json

from ray_apps.demo import PROFILES, run_demo


def test_demo_pipeline_end_to_end_on_tiny_then_skips_when_current(spark, ray_local, tmp_path, capsys):
    profile = {**PROFILES["tiny"], "image_epochs": 1, "text_epochs": 1}
    result = run_demo(tmp_path, "tiny", 7, force=False, keep_serving=False, profile=profile, port=8877)
    out = capsys.readouterr().out
    for stage in ("generate", "prep", "pretrain-image", "finetune-text", "embed", "compare", "serve"):
        assert f"] {stage} ===" in out
    assert result["answer"]["results"] and all(0 <= r["score"] <= 1 for r in result["answer"]["results"])
    report = (tmp_path / "runs" / "report.md").read_text()
    assert "UMAIR-FPS" in report and "DCN-V2" in report and "Oracle" in report and "w/o STY" in report
    assert "## Where the AUC goes" in report and "| e_STY (style) |" in report
    assert (tmp_path / "runs" / "charts" / "auc.png").stat().st_size > 0
    again = run_demo(tmp_path, "tiny", 7, force=False, keep_serving=False, profile=profile, port=8877)
    assert all(
        again["stages"][s] == 0.0 for s in ("generate", "prep", "pretrain-image", "finetune-text", "embed", "compare")
    )
    markers = {p.stem: json.loads(p.read_text()) for p in (tmp_path / ".stages").glob("*.json")}
    assert set(markers) == {"generate", "prep", "pretrain-image", "finetune-text", "embed", "compare"}
    # A changed budget re-runs the compare stage and retrains the runs it names with that budget.
    changed = {**profile, "models": ["dcn_v2"], "variants": [], "epochs": 2}
    third = run_demo(tmp_path, "tiny", 7, force=False, keep_serving=False, profile=changed, port=8877)
    assert third["stages"]["compare"] > 0 and third["stages"]["embed"] == 0.0
    runs = {
        name: json.loads((tmp_path / "runs" / name / "metrics.json").read_text())["config"]
        for name in ("dcn_v2", "umair_fps")
    }
    assert runs["dcn_v2"]["epochs"] == 2 and runs["umair_fps"]["epochs"] == 1
