"""compare on the tiny lake: several seeds with mean ± sd, +MM controls, reuse only on unchanged
inputs, one writer per runs folder, and `umair tune`'s settings taken with --tuned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from deltalake import write_deltalake

from ray_apps.lake import read_table
from ray_apps.ranker.compare import RunsFolderBusy, compare, runs_folder_lock
from ray_apps.ranker.config import TrainConfig
from ray_apps.ranker.plan import PlannedRun, load_tuned, plan
from ray_apps.ranker.report import write_report
from tests.conftest import SMALL_MODEL

BUDGET = TrainConfig(overrides=SMALL_MODEL, batch_size=256, early_stop=True, epochs=2)


def test_plan_names_each_seed_and_control_apart():
    runs = plan(["umair_fps", "dcn"], ["w/o STY"], ["dcn"], [0, 1])
    assert [r.name for r in runs] == [
        "umair_fps", "dcn", "dcn__+MM", "umair_fps__w-o_STY",
        "umair_fps__seed1", "dcn__seed1", "dcn__+MM__seed1", "umair_fps__w-o_STY__seed1",
    ]  # fmt: skip
    control = PlannedRun("dcn", control=True, seed=1).config(BUDGET, {})
    assert control.overrides["use_pretrained"] is True and control.seed == 1 and control.model == "dcn"
    tuned = PlannedRun("dcn").config(BUDGET, {"dcn": {"lr": 0.005, "overrides": {"embedding_dim": 16}}})
    assert tuned.lr == 0.005 and tuned.overrides == {"embedding_dim": 16, **SMALL_MODEL}
    # A +MM control takes the settings tuned for it (`tune --set use_pretrained=true`), else its model's.
    both = {"dcn": {"lr": 0.005}, "dcn__+MM": {"lr": 0.002, "overrides": {"use_pretrained": True}}}
    assert PlannedRun("dcn", control=True).config(BUDGET, both).lr == 0.002
    assert PlannedRun("dcn").config(BUDGET, both).lr == 0.005
    assert PlannedRun("dcn", control=True).config(BUDGET, {"dcn": {"lr": 0.005}}).lr == 0.005
    noisy = plan(["umair_fps"], [], [], [0, 1], random_modality=["umair_fps", "dcn_v2"])
    assert [r.name for r in noisy] == [
        "umair_fps", "umair_fps__rand", "dcn_v2__+MM__rand", "umair_fps__seed1", "umair_fps__rand__seed1",
        "dcn_v2__+MM__rand__seed1",
    ]  # fmt: skip
    assert noisy[2].config(BUDGET, {}).overrides["use_pretrained"] is True


def test_compare_takes_model_settings_for_every_run_and_the_control_lists_from_its_flags():
    from ray_apps.ranker.compare import build_parser
    from ray_apps.ranker.plan import CompareConfig
    from ray_apps.settings import config_from_args

    flags = ["--lake", "L", "--out", "O", "--set", "vector_l2=0.01", "--set", "modality_dropout=0.25"]
    a = build_parser().parse_args([*flags, "--random-modality", "umair_fps,dcn_v2"])
    base = config_from_args(TrainConfig, a, "compare", shared_with=(CompareConfig,))
    assert base.overrides == {"vector_l2": 0.01, "modality_dropout": 0.25}
    what = config_from_args(CompareConfig, a, "compare", shared_with=(TrainConfig,))
    assert what.random_modality_list() == ["umair_fps", "dcn_v2"]
    with pytest.raises(SystemExit, match="--random-modality: \\['nope'\\] are not models"):
        CompareConfig(random_modality="nope").random_modality_list()


def test_tune_takes_fixed_model_settings_from_set_flags():
    from ray_apps.ranker.tune import TuneConfig, build_parser, search_space
    from ray_apps.settings import config_from_args

    a = build_parser().parse_args(["--lake", "L", "--out", "O", "--model", "fibinet", "--set", "use_pretrained=true"])
    base = config_from_args(TrainConfig, a, "tune", shared_with=(TuneConfig,), model="fibinet")
    assert base.overrides == {"use_pretrained": True}
    assert set(search_space({"embedding_dim": 16})) == {"lr", "embedding_l2", "dnn_dropout", "batch_norm"}


def test_a_second_compare_on_the_same_runs_folder_refuses_with_a_clear_message(tmp_path):
    with runs_folder_lock(tmp_path):
        with pytest.raises(RunsFolderBusy, match="being written by another compare \\(pid"):
            with runs_folder_lock(tmp_path):
                pass
    with runs_folder_lock(tmp_path):  # released when the first one ended
        pass


def test_seeds_and_controls_give_mean_and_sd_and_changed_inputs_retrain(
    tiny_features, tiny_lake, tiny_site, tmp_path, capsys
):
    lake, _ = tiny_lake
    out = tmp_path / "runs"
    records = compare(str(lake), str(out), ["dcn_v2"], [], BUDGET, controls=["dcn_v2"], seeds=[0, 1], parallel=2)
    assert [r["run"] for r in records] == ["dcn_v2", "dcn_v2__+MM", "dcn_v2__seed1", "dcn_v2__+MM__seed1"]
    assert len({r["auc"] for r in records}) == 4  # four different models
    assert all(r["inputs"]["item_features"] is not None for r in records)
    report = write_report(out).read_text()
    assert "| DCN-V2 +MM |" in report and " ± " in report and "| Seeds |" in report
    assert "seeds [0, 1]" in report and "early stopping on validation auc" in report

    # Unchanged inputs and budget: nothing retrains.
    again = compare(str(lake), str(out), ["dcn_v2"], [], BUDGET, controls=["dcn_v2"], seeds=[0, 1])
    assert [r["wall_seconds"] for r in again] == [r["wall_seconds"] for r in records]
    # A new version of item_features (embed ran again): the runs trained on the old one are retrained.
    # In the same call (two runs at once), the oracle-vectors control: DCN-V2 +MM on the site's true
    # attributes, then where the AUC goes.
    write_deltalake(str(lake / "item_features"), read_table(lake / "item_features"), mode="overwrite")
    capsys.readouterr()
    raw = tiny_site[0]
    newer, oracle = compare(
        str(lake), str(out), ["dcn_v2"], [], BUDGET, controls=[], seeds=[0], oracle=["dcn_v2"], raw=str(raw), parallel=2
    )
    assert "dcn_v2: retrained, its inputs changed" in capsys.readouterr().out
    assert newer["inputs"]["item_features"] == records[0]["inputs"]["item_features"] + 1
    assert oracle["run"] == "dcn_v2__+MM__oracle" and oracle["config"]["overrides"]["use_pretrained"]
    assert oracle["inputs"]["item_features_table"] == "item_features_oracle"
    section = write_report(out, raw).read_text().split("## Where the AUC goes")[1]
    assert "The best run given the item vectors, DCN-V2 +MM, reaches" in section
    assert f"| DCN-V2 +MM | {(records[1]['auc'] + records[3]['auc']) / 2:.4f} | {oracle['auc']:.4f} |" in section
    probes = json.loads((out / "probes.json").read_text())["value"]
    assert set(probes) == {"e_sty", "e_sem", "e_tsem"}
    for name, found in probes.items():
        assert all(0 <= found[a]["accuracy"] <= 1 and 0 < found[a]["majority"] <= 1 for a in found), name
        style = found["style"]
        assert f"{style['accuracy']:.3f} ({style['majority']:.3f}), R^2 {style['code_r2']:.2f}" in section


def test_the_random_modality_control_adds_a_noise_vector_that_umcm_weighs_and_the_report_compares(
    tiny_features, tiny_lake, tmp_path
):
    lake, _ = tiny_lake
    out = tmp_path / "runs"
    budget = TrainConfig(overrides=SMALL_MODEL, batch_size=256, epochs=1)
    plain, noisy = compare(str(lake), str(out), ["umair_fps"], [], budget, random_modality=["umair_fps"], parallel=2)
    assert noisy["run"] == "umair_fps__rand" and noisy["inputs"]["item_features_table"] == "item_features_random"
    assert noisy["config"]["overrides"]["modalities"] == ["e_tsem", "e_sem", "e_sty", "meta", "e_rand"]
    widest = max(int(w) for w in _item_widths(lake).values())
    assert noisy["parameters"] - plain["parameters"] == widest * 64 + 64  # e_rand's own Linear(dim -> M)
    vectors = read_table(lake / "item_features_random", ["e_rand"])["e_rand"].to_pylist()
    assert len({bytes(v) for v in vectors}) == len(vectors)  # one vector per item, none repeated
    section = write_report(out).read_text().split("## Vectors never hurt")[1]
    assert f"| UMAIR-FPS | {plain['auc']:.4f} | {noisy['auc']:.4f} | {noisy['auc'] - plain['auc']:+.4f} |" in section


def _item_widths(lake: Path) -> dict[str, int]:
    from ray_apps.encoders.item_features import lake_item_vectors

    items = lake_item_vectors(lake, 1)
    assert items is not None
    return items.vectors


def test_tune_searches_on_the_validation_split_and_compare_trains_with_what_it_found(
    tiny_features, tiny_lake, ray_local, tmp_path
):
    """A +MM control tuned with `--set`: the given keys are held in every trial (embedding_dim is not
    searched), the file is the control's own, and compare trains the control with it."""
    from dataclasses import replace

    from ray_apps.ranker.tune import TuneConfig
    from ray_apps.ranker.tune import run as tune

    lake, _ = tiny_lake
    fixed = replace(BUDGET, overrides={**SMALL_MODEL, "use_pretrained": True, "embedding_dim": 8})
    result = tune(str(lake), str(tmp_path / "tuned"), TuneConfig(model="dcn", trials=3, max_epochs=2), fixed)
    assert result["name"] == "dcn__+MM" and not (tmp_path / "tuned" / "dcn.yaml").exists()
    record = json.loads((tmp_path / "tuned" / "dcn__+MM.trials.json").read_text())
    trials = record["trials"]
    assert len(trials) == 3 and all(0 < t["valid_auc"] < 1 for t in trials)
    assert "embedding_dim" not in record["space"] and record["fixed"]["use_pretrained"] is True
    assert all("embedding_dim" not in t["params"] for t in trials)
    assert result["best"]["valid_auc"] == max(t["valid_auc"] for t in trials)
    settings = yaml.safe_load((tmp_path / "tuned" / "dcn__+MM.yaml").read_text())["train"]
    assert settings["lr"] == result["best"]["params"]["lr"] and settings["overrides"]["embedding_dim"] == 8

    tuned = load_tuned(tmp_path / "tuned")
    [run] = compare(str(lake), str(tmp_path / "runs"), [], [], BUDGET, controls=["dcn"], tuned=tuned)
    assert run["run"] == "dcn__+MM" and run["config"]["lr"] == settings["lr"]
    assert run["config"]["overrides"]["dnn_dropout"] == settings["overrides"]["dnn_dropout"]
    assert run["config"]["overrides"]["use_pretrained"] is True
    assert run["config"]["tuned"] == str((tmp_path / "tuned").resolve())
    assert "settings `umair tune` found" in write_report(tmp_path / "runs").read_text()
    assert Path(tmp_path / "runs" / "dcn__+MM" / "metrics.json").exists()
