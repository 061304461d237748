"""`umair cycle` on the tiny site's arriving days: a first champion, a day's warm-started and gated
challenger, nothing done when nothing arrived, refused while another lifecycle step holds the lock.
Real Spark (the ingest child process), Ray Train, Delta and the MLflow store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ray_apps.lifecycle import registry
from ray_apps.lifecycle.cycle import cycle, main
from ray_apps.lifecycle.lock import lifecycle_lock
from ray_apps.ranker.config import TrainConfig
from tests.conftest import SMALL_MODEL

FIRST_DAY = "2021-12-29"


def _with_first_day_only(raw: Path, target: Path) -> Path:
    """A landing zone holding the history and only the first arriving day."""
    shutil.copytree(
        raw, target, ignore=lambda _, names: [n for n in names if n.startswith("date=") and n != f"date={FIRST_DAY}"]
    )
    return target


def test_a_day_cycle_warm_starts_gates_and_records_and_a_quiet_day_does_nothing(ray_local, tiny_days, tmp_path, capsys):
    raw, history_lake, _ = tiny_days
    lake, runs = tmp_path / "lake", tmp_path / "runs"
    shutil.copytree(history_lake, lake)
    day_raw = _with_first_day_only(raw, tmp_path / "raw")
    config = TrainConfig(model="dcn_v2", overrides=SMALL_MODEL, batch_size=256, num_workers=1, epochs=2, in_memory=True)

    first = cycle(str(lake), str(runs), config)  # no champion yet: trained from scratch, promoted
    assert first["outcome"] == "promoted" and first["champion_before"] is None
    assert registry.champion(str(runs))[1] == first["challenger"]

    second = cycle(str(lake), str(runs), config, raw=str(day_raw))
    out = capsys.readouterr().out
    for stage in ("cycle 1/4 ingest", "cycle 2/4 challenger", "cycle 3/4 gate", "cycle 4/4 promote"):
        assert stage in out
    assert f"Day {FIRST_DAY}" in out and "1 new day(s) taken in" in out
    challenger = second["challenger"]
    assert Path(challenger).name == f"dcn_v2__{FIRST_DAY}" and second["day"] == FIRST_DAY
    assert json.loads(Path(challenger, "config.json").read_text())["init_from"] == first["challenger"]  # warm start
    gate = json.loads(Path(challenger, "gate.json").read_text())
    assert gate["champion"] == first["challenger"] and gate["promote"] == (second["outcome"] == "promoted")
    with registry.client(str(runs)) as c:  # the decision is on the challenger's registered version
        tags = c.get_model_version(registry.MODEL_NAME, registry.model_version(challenger)).tags
    assert tags["umair.gate"] == ("promote" if gate["promote"] else "reject")
    expected = challenger if gate["promote"] else first["challenger"]
    assert registry.champion(str(runs))[1] == expected  # the alias moves only on promotion

    third = cycle(str(lake), str(runs), config, raw=str(day_raw))  # nothing arrived since
    assert third["outcome"] == "no new data" and "challenger" not in third
    assert third["ingest"] == [f"no day under {day_raw} that the lake has not taken in"]  # no Spark started
    assert sorted(p.name for p in runs.iterdir() if (p / "metrics.json").exists()) == sorted(
        [Path(first["challenger"]).name, Path(challenger).name]
    )

    with lifecycle_lock(runs, "a promotion by hand"):
        assert main(["--lake", str(lake), "--runs", str(runs), "--raw", str(day_raw)]) == 3
    assert "cycle: REFUSED: a promotion by hand holds" in capsys.readouterr().out
