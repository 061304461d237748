"""report.md from a runs folder: Tables 3 and 4, the per-metric comparison and the shared budget."""

from __future__ import annotations

import json

from ray_apps.ranker.report import global_steps, write_report


def _run(root, name, model, auc, logloss, variant=None, epochs=2, seed=0, overrides=None, valid=None):
    """A finished run's folder; `valid`: its validation AUC per epoch (epochs.json, best epoch = the highest)."""
    d = root / name
    d.mkdir(parents=True)
    config = {
        "model": model, "variant": variant, "epochs": epochs, "batch_size": 512, "lr": 0.001, "seed": seed,
        "overrides": overrides or {},
    }  # fmt: skip
    (d / "metrics.json").write_text(
        json.dumps(
            {
                "run": name,
                "model": model,
                "variant": variant,
                "auc": auc,
                "logloss": logloss,
                "gauc": auc - 0.02,
                "parameters": 1000,
                "config": config,
                **({"best_epoch": 1 + valid.index(max(valid))} if valid else {}),
            }
        )
    )
    if valid:
        (d / "epochs.json").write_text(json.dumps([{"epoch": e, "valid_auc": v} for e, v in enumerate(valid, 1)]))
    (d / "history.json").write_text(
        json.dumps([{"epoch": e, "step": s, "loss": 0.5} for e in range(epochs) for s in (20, 40)])
    )


def test_report_compares_with_the_best_baseline_on_each_metric_and_states_the_budget(tmp_path):
    _run(tmp_path, "umair_fps", "umair_fps", 0.62, 0.484)
    _run(tmp_path, "difm", "difm", 0.606, 0.489)  # best baseline AUC
    _run(tmp_path, "finalmlp", "finalmlp", 0.603, 0.4878)  # best baseline log loss
    _run(tmp_path, "umair_fps__w-o_STY", "umair_fps", 0.61, 0.4865, variant="w/o STY")
    text = write_report(tmp_path).read_text()
    assert "every model trained for 2 epoch(s) at batch 512" in text
    assert "Measured at a short budget (at most 2 epoch(s))" in text and "bench/README.md" in text
    assert "AUC +0.0140 (vs DIFM), log loss -0.0038 (vs FinalMLP)" in text
    assert "| UMAIR-FPS | **0.4840** | **0.6200** |" in text and "| w/o STY | 0.4865 | 0.6100 |" in text
    assert (tmp_path / "charts" / "training_curves.png").stat().st_size > 0


def test_a_converged_budget_carries_no_short_budget_note(tmp_path):
    _run(tmp_path, "umair_fps", "umair_fps", 0.62, 0.484, epochs=10)
    _run(tmp_path, "dcn", "dcn", 0.60, 0.488, epochs=10)
    assert "short budget" not in write_report(tmp_path).read_text()


def test_report_warns_when_runs_had_different_budgets(tmp_path):
    _run(tmp_path, "umair_fps", "umair_fps", 0.62, 0.484, epochs=2)
    _run(tmp_path, "dcn", "dcn", 0.60, 0.488, epochs=1)
    assert "trained with different budgets" in write_report(tmp_path).read_text()


def test_training_curve_steps_continue_across_epochs():
    history = [{"epoch": 0, "step": 20}, {"epoch": 0, "step": 35}, {"epoch": 1, "step": 20}, {"epoch": 1, "step": 35}]
    assert global_steps(history) == [20, 35, 55, 70]


def test_seeds_give_mean_and_sd_and_a_gap_inside_the_noise_is_called_so(tmp_path):
    for seed, (u, d, c) in enumerate([(0.620, 0.610, 0.615), (0.610, 0.612, 0.611), (0.630, 0.608, 0.619)]):
        suffix = f"__seed{seed}" if seed else ""
        _run(tmp_path, "umair_fps" + suffix, "umair_fps", u, 0.48, seed=seed)
        _run(tmp_path, "difm" + suffix, "difm", d, 0.49, seed=seed)
        _run(tmp_path, "difm__+MM" + suffix, "difm", c, 0.485, seed=seed, overrides={"use_pretrained": True})
    text = write_report(tmp_path).read_text()
    assert "| UMAIR-FPS | **0.4800 ± 0.0000** | **0.6200 ± 0.0100** |" in text and "| 3 |" in text
    assert "| DIFM +MM | 0.4850 ± 0.0000 | 0.6150 ± 0.0040 |" in text
    assert "seeds [0, 1, 2]" in text
    # UMAIR-FPS - DIFM = +0.0100 AUC with standard error sqrt(0.01^2/3 + 0.002^2/3) = 0.0059: within 2 SE.
    assert "AUC +0.0100 (within seed noise) (vs DIFM)" in text
    assert "AUC +0.0050 (within seed noise) (vs DIFM +MM)" in text


def test_validation_picks_the_run_to_deploy_without_looking_at_the_test_split(tmp_path):
    # the ID-only self validates best (mean of its two seeds' best epochs 0.700) though another row tests higher
    _run(tmp_path, "umair_fps__w-o_ALL", "umair_fps", 0.70, 0.48, variant="w/o ALL", valid=[0.69, 0.70, 0.695])
    _run(tmp_path, "umair_fps__w-o_ALL__seed1", "umair_fps", 0.71, 0.48, variant="w/o ALL", seed=1, valid=[0.70])
    _run(tmp_path, "umair_fps", "umair_fps", 0.72, 0.47, valid=[0.68, 0.699])
    _run(tmp_path, "umair_fps__seed1", "umair_fps", 0.72, 0.47, seed=1, valid=[0.699, 0.69])
    section = write_report(tmp_path).read_text().split("## Picked by validation")[1]
    assert "| w/o ALL | **0.7000** | 0.7050 ± 0.0071 |" in section
    assert "| UMAIR-FPS | 0.6990 | 0.7200 ± 0.0000 |" in section
    assert "Picked: **w/o ALL**. On this data the item vectors do not pay" in section


def test_no_pick_without_validation(tmp_path):
    _run(tmp_path, "umair_fps", "umair_fps", 0.62, 0.484, valid=[0.61])
    _run(tmp_path, "dcn", "dcn", 0.60, 0.488)  # trained without --early-stop: no epochs.json
    assert "## Picked by validation" not in write_report(tmp_path).read_text()
