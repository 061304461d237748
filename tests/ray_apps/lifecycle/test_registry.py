"""Lineage in MLflow, warm start, and the champion alias: it moves only on promotion or rollback."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from safetensors.torch import load_file

from ray_apps.lifecycle import registry
from ray_apps.lifecycle.gate import gate
from ray_apps.lifecycle.lock import LOCK_FILE, LockHeldError
from ray_apps.lifecycle.promote import PromotionRefused, main, promote, rollback
from tests.conftest import SMALL_MODEL
from tests.ray_apps.lifecycle.conftest import recorded_copy


def test_every_training_run_is_an_mlflow_run_with_its_inputs_code_and_metrics(tiny_runs):
    runs, records = tiny_runs
    with registry.client(runs) as c:
        for model, record in records.items():
            run = c.get_run(record["mlflow_run_id"])
            assert run.info.run_name == record["run"] and run.info.status == "FINISHED"
            assert json.loads(run.data.tags["umair.inputs"]) == json.loads(json.dumps(record["inputs"]))
            assert set(record["inputs"]["tables"]) >= {"train", "test"}  # each split's Delta version
            assert run.data.tags["umair.run_dir"] == str(Path(runs, record["run"]))
            assert run.data.tags["umair.code_version"] not in ("", "unknown")
            assert run.data.params["model"] == model and run.data.metrics["auc"] == pytest.approx(record["auc"])
            assert "record/model.json" in [f.path for f in c.list_artifacts(run.info.run_id, "record")]
    assert registry.champion(runs) is None  # training alone never makes a champion


def test_warm_start_begins_at_the_runs_weights_and_a_misfit_is_refused_before_training(
    tiny_runs, tiny_lake, tmp_path, capsys
):
    from ray_apps.ranker.config import TrainConfig
    from ray_apps.ranker.job import main as train_main
    from ray_apps.ranker.job import run

    runs, records = tiny_runs
    lake, _ = tiny_lake
    parent = Path(runs, records["dcn_v2"]["run"])
    config = TrainConfig(
        model="dcn_v2", overrides=SMALL_MODEL, batch_size=256, num_workers=1, epochs=0, in_memory=True,
        init_from=str(parent),
    )  # fmt: skip
    child = run(str(lake), str(tmp_path / "runs"), config, run_name="warm")
    assert child["auc"] == pytest.approx(records["dcn_v2"]["auc"], abs=1e-6)  # no step taken: the parent's model
    before, after = load_file(parent / "model.safetensors"), load_file(tmp_path / "runs/warm/model.safetensors")
    assert before.keys() == after.keys() and all((before[k] == after[k]).all() for k in before)
    with registry.client(tmp_path / "runs") as c:
        tags = c.get_run(child["mlflow_run_id"]).data.tags
    assert (
        tags["umair.parent_run"] == str(parent)
        and tags["umair.parent_mlflow_run"] == records["dcn_v2"]["mlflow_run_id"]
    )

    common = ["--lake", str(lake), "--runs", str(tmp_path / "runs"), "--epochs", "1", "--in-memory"]
    umair_run = str(Path(runs, records["umair_fps"]["run"]))
    assert train_main([*common, "--model", "dcn_v2", "--init-from", umair_run]) == 2
    assert "cannot warm-start" in capsys.readouterr().out
    assert train_main([*common, "--model", "dcn_v2", "--set", "dnn_hidden=[16]", "--init-from", str(parent)]) == 2
    assert "dnn_hidden" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "runs").iterdir() if (p / "model.safetensors").exists()) == ["warm"]


def test_the_champion_alias_moves_only_on_promotion_and_rollback_walks_back(tiny_runs, tiny_lake, tmp_path, capsys):
    runs, records = tiny_runs
    lake, _ = tiny_lake
    mine = tmp_path / "runs"
    first = recorded_copy(mine, Path(runs, records["umair_fps"]["run"]), "first")
    same = recorded_copy(mine, Path(runs, records["umair_fps"]["run"]), "same_again")
    other = recorded_copy(mine, Path(runs, records["dcn_v2"]["run"]), "other")

    with pytest.raises(PromotionRefused, match="no previous champion"):
        rollback(str(mine))
    v1 = promote(first).after[0]  # no champion yet: the first needs no gate
    assert registry.champion(mine) == (v1, first)
    with pytest.raises(PromotionRefused, match="has not been gated"):
        promote(same)
    assert gate(first, same, str(lake)).promote  # the same weights: not worse
    with registry.client(mine) as c:
        gated = c.get_model_version(registry.MODEL_NAME, registry.model_version(same))
    assert gated.tags["umair.gate"] == "promote" and gated.tags["umair.gate_champion"] == first
    assert registry.champion(mine) == (v1, first)  # gating alone moves nothing
    v2 = promote(same).after[0]
    assert main(["--run", other, "--force", "hot fix"]) == 0 and "forced by hand: hot fix" in capsys.readouterr().out
    v3 = registry.champion(mine)[0]
    assert registry.history(mine) == [v1, v2, v3]
    assert main(["--run", other]) == 3 and "already the champion" in capsys.readouterr().out

    assert rollback(str(mine)).after == (v2, same) and registry.champion(mine) == (v2, same)
    assert rollback(str(mine)).after == (v1, first)
    with pytest.raises(PromotionRefused, match="no previous champion"):
        rollback(str(mine))
    with registry.client(mine) as c:
        tags = c.get_model_version(registry.MODEL_NAME, v3).tags
    assert tags["umair.promote_reason"] == "forced by hand: hot fix" and "umair.rolled_back_at" in tags


def test_one_lifecycle_step_at_a_time(tiny_runs, tmp_path):
    runs, records = tiny_runs
    mine = tmp_path / "runs"
    first = recorded_copy(mine, Path(runs, records["dcn_v2"]["run"]), "first")
    held = {"what": "cycle", "pid": 1, "host": "another-machine", "since": "2026-12-05T00:00:00Z"}
    (mine / LOCK_FILE).write_text(json.dumps(held))
    with pytest.raises(LockHeldError, match="cycle holds .* on another-machine"):
        promote(first)
    assert registry.champion(mine) is None
    gone = 2**22 + 12345  # no such process here
    assert not os.path.exists(f"/proc/{gone}")
    (mine / LOCK_FILE).write_text(json.dumps({**held, "pid": gone, "host": socket.gethostname()}))
    assert promote(first).after[1] == first  # a lock left by a dead process on this machine is taken over
    assert not (mine / LOCK_FILE).exists()
