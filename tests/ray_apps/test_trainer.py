"""train_run_storage: which Ray Train checkpoints a run started again may resume from."""

from __future__ import annotations

import pytest

from ray_apps.trainer import train_run_storage


def _checkpoint(root):
    (root / "checkpoint_1").mkdir(parents=True, exist_ok=True)
    (root / "checkpoint_1" / "state.pt").write_text("weights")


def test_an_unfinished_run_of_the_same_config_resumes_from_its_checkpoints(tmp_path):
    with pytest.raises(RuntimeError), train_run_storage(tmp_path, "run", {"epochs": 2}) as resumes:
        assert not resumes
        _checkpoint(tmp_path / "run")
        raise RuntimeError("the run crashed")
    with train_run_storage(tmp_path, "run", {"epochs": 2}) as resumes:
        assert resumes and (tmp_path / "run" / "checkpoint_1" / "state.pt").exists()


@pytest.mark.parametrize("crash", [False, True])
def test_a_finished_run_or_another_config_starts_from_scratch(tmp_path, crash):
    try:
        with train_run_storage(tmp_path, "run", {"epochs": 1}):
            _checkpoint(tmp_path / "run")
            if crash:
                raise RuntimeError("the run crashed")
    except RuntimeError:
        pass
    config = {"epochs": 2} if crash else {"epochs": 1}  # crashed: resumed only with the same config
    with train_run_storage(tmp_path, "run", config) as resumes:
        assert not resumes and not (tmp_path / "run" / "checkpoint_1").exists()
