"""A training run's samples/s, loss and validation metrics reach Ray's metrics port while it trains,
labelled with the run and the model (parsed with the Prometheus text parser)."""

from __future__ import annotations

import threading

from tests.conftest import SMALL_MODEL
from tests.prometheus import value, wait_for


def test_a_training_run_exports_samples_per_second_loss_and_validation_auc(ray_local, tiny_lake, tmp_path):
    from ray_apps.ranker.config import TrainConfig
    from ray_apps.ranker.job import run

    lake, _ = tiny_lake
    config = TrainConfig(
        model="dcn_v2", overrides=SMALL_MODEL, batch_size=256, num_workers=1, epochs=12, in_memory=True,
        early_stop=True, patience=12,
    )  # fmt: skip
    done: dict = {}
    training = threading.Thread(
        target=lambda: done.update(run(str(lake), str(tmp_path / "runs"), config, run_name="metered")), daemon=True
    )
    training.start()

    def seen(m: dict) -> bool:
        return value(m, "umair_valid_auc", run="metered", model="dcn_v2") > 0 or not training.is_alive()

    scraped = wait_for(seen, timeout_s=600)  # until the first validation is exported, or the run ends
    assert training.is_alive(), "the run ended before Ray exported its validation metrics"
    assert 0.0 < value(scraped, "umair_valid_auc", run="metered", model="dcn_v2", rank="0") < 1.0
    assert value(scraped, "umair_valid_logloss", run="metered") > 0
    assert value(scraped, "umair_train_samples_per_second", run="metered", model="dcn_v2") > 0
    assert value(scraped, "umair_train_loss", run="metered") > 0
    assert value(scraped, "umair_train_samples_total", run="metered") > 0
    assert value(scraped, "umair_train_epoch", run="metered") >= 1
    training.join(timeout=600)
    assert 0.0 < done["auc"] < 1.0  # the run itself finished
