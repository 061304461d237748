"""The training protocol's pieces in one process: plateau bookkeeping, learning-rate decay, and
batch-norm statistics that match the weights being evaluated."""

from __future__ import annotations

import pytest
import torch

from ray_apps.ranker.protocol import BatchTail, Plateau, current_lr, lr_schedule, recalibrate_batch_norm


def test_plateau_tracks_the_best_epoch_and_stops_after_patience_epochs_without_improvement():
    p = Plateau("auc", patience=2)
    assert [p.update(e, v) for e, v in enumerate([0.60, 0.62, 0.61, 0.63, 0.63, 0.62], 1)] == [
        True, True, False, True, False, False,
    ]  # fmt: skip
    assert p.best == 0.63 and p.best_epoch == 4 and p.stop
    loss = Plateau("logloss", patience=1)
    assert loss.update(1, 0.5) and loss.update(2, 0.4) and not loss.update(3, 0.45) and loss.stop
    assert Plateau.from_state(loss.state_dict()) == loss
    with pytest.raises(ValueError, match="monitor"):
        Plateau("accuracy")
    with pytest.raises(ValueError, match="patience"):
        Plateau("auc", patience=0)


def test_the_learning_rate_drops_by_the_factor_on_each_epoch_without_improvement_and_stops_at_the_floor():
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    schedule = lr_schedule(opt, "max", factor=0.1, floor=2e-6)
    seen = []
    for value in (0.60, 0.62, 0.62, 0.61, 0.63, 0.50, 0.50):
        schedule.step(value)
        seen.append(current_lr(opt))
    assert seen == pytest.approx([1e-3, 1e-3, 1e-4, 1e-5, 1e-5, 2e-6, 2e-6])
    fixed = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    keep = lr_schedule(fixed, "min", factor=1.0, floor=0.0)
    for value in (0.5, 0.6, 0.7):
        keep.step(value)
    assert current_lr(fixed) == pytest.approx(1e-3)


class _BNNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(8, 64), torch.nn.BatchNorm1d(64), torch.nn.ReLU(), torch.nn.Linear(64, 1)
        )

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.net(batch["x"]).squeeze(-1)


def test_recalibrated_batch_norm_makes_evaluation_mode_agree_with_training_mode():
    """Few large steps move the weights faster than BatchNorm's running averages follow: evaluation
    mode then scores far worse than the same weights in training mode. After recalibration the two agree."""
    torch.manual_seed(0)
    x = 3 + 4 * torch.randn(4096, 8)  # batch statistics far from the initial running averages (0, 1)
    y = (x[:, :3].sum(1) - 9 + torch.randn(4096) > 0).float()
    model, bce = _BNNet(), torch.nn.BCEWithLogitsLoss()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    tail = BatchTail(8)
    for batch in tail.watch({"x": x[i : i + 512], "label": y[i : i + 512]} for i in range(0, 4096, 512)):
        opt.zero_grad()
        bce(model(batch), batch["label"]).backward()
        opt.step()

    def losses() -> tuple[float, float]:
        with torch.no_grad():
            model.eval()
            evaluated = bce(model({"x": x}), y).item()
            model.train()
            trained = bce(model({"x": x}), y).item()
        return evaluated, trained

    stale, train_mode = losses()
    assert stale - train_mode > 0.05, "the lag this test is about did not appear"
    assert recalibrate_batch_norm(model, tail.batches, "cpu") == 8
    fresh, train_mode = losses()
    assert abs(fresh - train_mode) < 0.01
    momentum = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)).momentum
    assert momentum == 0.1  # training goes on with the usual running averages


def test_recalibration_leaves_a_model_without_batch_norm_or_without_batches_untouched():
    plain = torch.nn.Linear(3, 1)
    assert recalibrate_batch_norm(plain, [{"x": torch.zeros(2, 3)}], "cpu") == 0
    net = _BNNet()
    bn = net.net[1]
    bn.running_mean.fill_(0.5)
    assert recalibrate_batch_norm(net, [], "cpu") == 0 and torch.all(bn.running_mean == 0.5)
