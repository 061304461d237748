"""The promotion gate: the same rows scored by both runs, a paired bootstrap, non-inferiority within a
tolerance; a challenger trained on a day with shuffled labels is rejected."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from ray_apps.lake import read_table
from ray_apps.lifecycle.gate import decide, gate, main, paired_bootstrap, score_run
from tests.conftest import SMALL_MODEL


def _labels_and_scores(n: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n).astype(float)
    return y, 1 / (1 + np.exp(-(2 * y - 1 + rng.normal(0, 1.5, n))))


def test_an_equal_challenger_passes_and_a_worse_one_is_refused_naming_the_figure():
    y, good = _labels_and_scores()
    same = decide(paired_bootstrap(y, good, good.copy()), 0.002, len(y))
    assert same.promote and same.auc["diff"] == 0 and same.auc["low"] == same.auc["high"] == 0
    shuffled = np.random.default_rng(1).permutation(good)
    worse = decide(paired_bootstrap(y, good, shuffled), 0.002, len(y))
    assert not worse.promote and worse.reason.startswith("AUC may be worse by more than 0.002")
    assert worse.auc["high"] < 0 < worse.auc["champion"] - 0.5


def test_a_rejection_on_too_few_rows_says_what_they_resolve_and_a_wider_tolerance_lets_an_equal_one_pass():
    y, champion = _labels_and_scores(600)
    noise = np.random.default_rng(2).normal(0, 1.5, len(y))  # as good as the champion, other errors
    challenger = 1 / (1 + np.exp(-(2 * y - 1 + noise)))
    stats = paired_bootstrap(y, champion, challenger)
    strict = decide(stats, 0.002, len(y))
    assert not strict.promote and strict.resolution > 0.002
    assert f"resolve AUC to about ±{strict.resolution:.4f} only" in strict.reason
    assert decide(stats, 2 * strict.resolution + abs(stats["auc"]["diff"]), len(y)).promote
    y_many, many = _labels_and_scores(4000)
    assert "resolve" not in decide(paired_bootstrap(y_many, many, many.copy()), 0.002, len(y_many)).reason


def test_the_gate_scores_each_run_as_its_test_and_refuses_a_run_trained_on_shuffled_labels(
    tiny_runs, tiny_lake, tmp_path, capsys
):
    from ray_apps.ranker.config import TrainConfig
    from ray_apps.ranker.job import run

    runs, records = tiny_runs
    lake, _ = tiny_lake
    champion = str(Path(runs, records["dcn_v2"]["run"]))
    probs, labels = score_run(champion, lake)
    assert len(labels) == records["dcn_v2"]["examples"]
    from umair_models.metrics import auc

    assert auc(probs, labels) == pytest.approx(records["dcn_v2"]["auc"], abs=1e-4)  # the run's own test AUC

    assert gate(champion, champion, str(lake)).promote  # the champion against itself

    broken = tmp_path / "broken_lake"
    shutil.copytree(lake, broken)
    train = read_table(broken / "interactions_train")
    labels_shuffled = np.random.default_rng(0).permutation(train["label"].to_numpy())
    write_deltalake(
        str(broken / "interactions_train"),
        train.set_column(
            train.schema.get_field_index("label"), "label", pa.array(labels_shuffled, train["label"].type)
        ),
        mode="overwrite",
    )
    config = TrainConfig(model="dcn_v2", overrides=SMALL_MODEL, batch_size=256, num_workers=1, epochs=2, in_memory=True)
    challenger = str(tmp_path / "runs" / run(str(broken), str(tmp_path / "runs"), config)["run"])
    assert main(["--champion", champion, "--challenger", challenger, "--lake", str(lake)]) == 3
    assert "gate: REJECT" in capsys.readouterr().out
    decision = json.loads((Path(challenger) / "gate.json").read_text())
    assert not decision["promote"] and decision["champion"] == champion and decision["auc"]["high"] < 0


def test_a_run_folder_without_weights_is_refused_by_name_with_nothing_decided(tmp_path, capsys):
    champion, challenger = tmp_path / "champion", tmp_path / "challenger"
    for run in (champion, challenger):
        run.mkdir()
    (champion / "model.pt").write_bytes(b"not loaded")  # a pickle where the weights should be
    code = main(["--champion", str(champion), "--challenger", str(challenger), "--lake", str(tmp_path)])
    out = capsys.readouterr()
    assert code == 2 and "Traceback" not in out.out + out.err
    assert f"{champion}/model.safetensors: no such artifact; found model.pt" in out.out
    assert not (champion / "gate.json").exists() and not (challenger / "gate.json").exists()
