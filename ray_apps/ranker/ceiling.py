"""The learnable ceiling of a sample site: how well a well-specified model does when it is *given*
each illustration's true attributes and learns everything else from the training period alone.

The generator's rule (spark_jobs/site/world.py) is a logistic model in per-user tastes for the
illustration's style, subject and series plus user and item offsets. Fitting exactly that form on
the training period's views (L2 strength chosen on the validation period) and scoring the test
period gives the AUC a ranker could reach with perfect item understanding and the same data: the
oracle AUC (true probabilities) is the bound no learner reaches, this one is what is learnable.
A model's distance to it is how much learnable signal it misses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from umair_models.metrics import auc

L2_GRID = (1e-7, 1e-6, 1e-5, 1e-4)


@dataclass
class Views:
    """Views of one period as integer codes [n] each, and the bookmark label [n]."""

    user: torch.Tensor
    item: torch.Tensor
    style: torch.Tensor
    subject: torch.Tensor
    series: torch.Tensor  # 0 = original work, k + 1 = series k
    label: torch.Tensor


class TasteModel(torch.nn.Module):
    """logit = b + u[user] + i[item] + S[user, style] + J[user, subject] + R[user, series] (R[., 0] = 0)."""

    def __init__(self, users: int, items: int, styles: int, subjects: int, series: int) -> None:
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(()))
        self.user = torch.nn.Parameter(torch.zeros(users))
        self.item = torch.nn.Parameter(torch.zeros(items))
        self.style = torch.nn.Parameter(torch.zeros(users, styles))
        self.subject = torch.nn.Parameter(torch.zeros(users, subjects))
        self.series = torch.nn.Parameter(torch.zeros(users, series))

    def forward(self, v: Views) -> torch.Tensor:
        series = torch.where(v.series > 0, self.series[v.user, (v.series - 1).clamp(min=0)], torch.zeros(()))
        return (
            self.bias + self.user[v.user] + self.item[v.item] + self.style[v.user, v.style]
            + self.subject[v.user, v.subject] + series
        )  # fmt: skip

    def penalty(self) -> torch.Tensor:
        return sum((p.pow(2).sum() for n, p in self.named_parameters() if n != "bias"), torch.zeros(()))


def _fit(model: TasteModel, train: Views, l2: float) -> TasteModel:
    """Full-batch L-BFGS on mean BCE + l2 * ||params||^2 (a convex problem: it converges)."""
    optimizer = torch.optim.LBFGS(
        model.parameters(), lr=1.0, max_iter=200, history_size=20, line_search_fn="strong_wolfe"
    )
    bce = torch.nn.BCEWithLogitsLoss()

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = bce(model(train), train.label) + l2 * model.penalty()
        loss.backward()
        return loss

    optimizer.step(closure)
    return model


def learnable_ceiling(
    raw: str | Path, train_start: str, valid_start: str, test_start: str, test_end: str
) -> dict | None:
    """{"auc", "l2", "train_views", "test_views"} of the well-specified model; None without RAW/oracle*."""
    import pyarrow.dataset as ds

    if not (Path(raw, "oracle").exists() and Path(raw, "oracle_items").exists()):
        return None
    views = ds.dataset(Path(raw, "oracle")).to_table(columns=["user_id", "illust_id", "ts", "bookmarked"]).to_pandas()
    items = (
        ds.dataset(Path(raw, "oracle_items")).to_table(columns=["illust_id", "style", "subject", "series"]).to_pandas()
    )
    views = views.merge(items, on="illust_id", how="inner")
    ts = views["ts"].dt.tz_localize(None) if views["ts"].dt.tz is not None else views["ts"]
    user, item = pd.factorize(views["user_id"])[0], pd.factorize(views["illust_id"])[0]
    series = views["series"].to_numpy()

    def period(start: str, end: str) -> Views:
        rows = ((ts >= pd.Timestamp(start)) & (ts < pd.Timestamp(end))).to_numpy()

        def long(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a[rows]).astype(np.int64))

        return Views(
            long(user), long(item), long(views["style"].to_numpy()), long(views["subject"].to_numpy()),
            long(np.where(series >= 0, series + 1, 0)), torch.from_numpy(views["bookmarked"].to_numpy()[rows].astype(np.float32)),
        )  # fmt: skip

    train, valid, test = period(train_start, valid_start), period(valid_start, test_start), period(test_start, test_end)
    sizes = (
        int(user.max()) + 1, int(item.max()) + 1, int(items["style"].max()) + 1, int(items["subject"].max()) + 1,
        max(int(series.max()) + 1, 1),
    )  # fmt: skip
    torch.manual_seed(0)
    best: tuple[float, float, TasteModel] | None = None
    for l2 in L2_GRID:
        model = _fit(TasteModel(*sizes), train, l2)
        with torch.no_grad():
            score = auc(model(valid).numpy(), valid.label.numpy())
        if best is None or score > best[0]:
            best = (score, l2, model)
    assert best is not None
    _, l2, model = best
    with torch.no_grad():
        test_auc = auc(model(test).numpy(), test.label.numpy())
    return {"auc": test_auc, "l2": l2, "train_views": len(train.label), "test_views": len(test.label)}
