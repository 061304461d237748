"""Every ranker with batch norm, trained a few epochs on the tiny lake with the production epoch and
evaluation functions, scores a validation log loss close to its training loss (no evaluation-mode
collapse: the FiBiNET failure of 0.62 -> 7.03 fails this)."""

from __future__ import annotations

import pytest
import torch

from ray_apps.encoders.item_features import load_item_vectors
from ray_apps.ranker.data import DatasetConfig, split_arrays
from ray_apps.ranker.loop import epoch_batches, evaluate, train_epoch
from ray_apps.ranker.protocol import BatchTail, recalibrate_batch_norm
from umair_models.models.registry import MODELS, build_model


def _split_tensors(dataset: DatasetConfig, split: str) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v) for k, v in split_arrays(dataset, split).items()}


class _Budget:
    """The parts of TrainConfig that `epoch_batches` reads."""

    in_memory, batch_size, seed = True, 256, 0


@pytest.fixture(scope="module")
def tiny_arrays(tiny_features, tiny_lake):
    lake, _ = tiny_lake
    dataset = DatasetConfig.for_lake(lake)
    assert dataset.item_features is not None
    vectors = load_item_vectors(dataset.item_features)
    return dataset, vectors, _split_tensors(dataset, "train"), _split_tensors(dataset, "valid")


@pytest.mark.parametrize("name", list(MODELS))
def test_validation_log_loss_stays_near_the_training_loss_with_batch_norm(name, tiny_arrays):
    dataset, vectors, train, valid = tiny_arrays
    torch.manual_seed(0)
    model = build_model(name, dataset.spec, {"batch_norm": True, "dnn_hidden": [64, 32]})
    for field, (v, present) in vectors.items():
        model.load_pretrained(field, torch.from_numpy(v), torch.from_numpy(present))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    held, seen = dict(train), []
    for epoch in range(3):
        tail = BatchTail(50)
        stats = train_epoch(
            model, model.regularization, optimizer, tail.watch(epoch_batches(None, _Budget, epoch, held)), "cpu"
        )
        recalibrate_batch_norm(model, tail.batches, "cpu")
        state, _ = evaluate(model, iter([valid]), "cpu")
        seen.append(f"epoch {epoch + 1}: train {stats.recent_loss():.3f}, valid {state.logloss.value():.3f}")
    # After a few epochs the validation log loss is near the training loss of the weights evaluated: the
    # epoch's last steps (their mean, or an earlier epoch, would include the first steps' spikes: FinalMLP's
    # bilinear fusion over batch-normalised, non-negative streams jumps after Adam's first update).
    assert abs(state.logloss.value() - stats.recent_loss()) < 0.2, f"{name}: {'; '.join(seen)}"
