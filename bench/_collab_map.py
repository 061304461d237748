"""A collaborative map of item content (prototype for bench/vector_swap.py's `collab` stand-in).

A two-tower click model fitted on the lake's training interactions: a user embedding [WIDTH] and a user
bias against MLP(item content) [WIDTH], where an item's content is the concatenation of its modalities'
16 whitened principal components (the model's own `PrincipalProjection`). Adam, stopped on the validation
split's AUC. The MLP's output for every item is a vector that holds what users' clicks tell apart in the
content: no attribute labels, the test split never read; a function of content only, so a new item gets
one too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ray_apps.lake import read_table
from umair_models.layers.principal import PrincipalProjection
from umair_models.metrics import auc

COMPONENTS = 16
WIDTH = 16
HIDDEN = 128
LR = 3e-3
USER_L2 = 1e-4
BATCH = 1024
MAX_EPOCHS = 30
PATIENCE = 3


def whitened(vectors: np.ndarray) -> np.ndarray:
    """[n, d] -> [n, COMPONENTS] the first principal components, centred and scaled to unit variance."""
    projection = PrincipalProjection(vectors.shape[1], COMPONENTS, 1)
    x = torch.from_numpy(vectors.astype(np.float32))
    projection.fit(x, torch.ones(len(x), dtype=torch.bool))
    return ((x - projection.mean) @ projection.basis).numpy()


def _split(lake: Path, name: str, items: np.ndarray, user: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """LAKE/NAME's interactions with `items` -> (user, item_idx, label) int64 tensors; `user`: an integer
    user column (our lake's `user_idx`, a featurized lake's indexed user field)."""
    frame = read_table(lake / name, [user, "item_idx", "label"]).to_pandas()
    frame = frame[np.isin(frame["item_idx"].to_numpy(), items)]
    users, items_, labels = (
        torch.from_numpy(frame[c].to_numpy().astype(np.int64)) for c in (user, "item_idx", "label")
    )
    return users, items_, labels


def collaborative_map(
    lake: Path, items: np.ndarray, content: np.ndarray, seed: int = 0, user: str = "user_idx"
) -> tuple[np.ndarray, float]:
    """items [n] item_idx, content [n, c] (whitened components side by side) -> ([n, WIDTH] the fitted
    MLP's output per item, the best validation AUC). Interactions with items outside `items` are left out."""
    torch.manual_seed(seed)
    table = np.zeros((int(items.max()) + 1, content.shape[1]), np.float32)
    table[items] = content
    features = torch.from_numpy(table)
    users, item_rows, labels = _split(lake, "interactions_train", items, user)
    v_users, v_items, v_labels = _split(lake, "interactions_valid", items, user)
    num_users = int(max(users.max(), v_users.max())) + 1
    user = torch.nn.Embedding(num_users, WIDTH)
    torch.nn.init.normal_(user.weight, std=0.01)
    bias = torch.nn.Embedding(num_users, 1)
    torch.nn.init.zeros_(bias.weight)
    item_map = torch.nn.Sequential(
        torch.nn.Linear(content.shape[1], HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, WIDTH)
    )
    modules = torch.nn.ModuleList([user, bias, item_map])
    optimizer = torch.optim.Adam(modules.parameters(), lr=LR)

    def logits(u: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        return (user(u) * item_map(features[i])).sum(1) + bias(u)[:, 0]

    best, best_state, waited = 0.0, None, 0
    for _ in range(MAX_EPOCHS):
        modules.train()
        for batch in torch.randperm(len(users)).split(BATCH):
            u = users[batch]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits(u, item_rows[batch]), labels[batch].float()
            )
            loss = loss + USER_L2 * user(u).pow(2).sum(1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        modules.eval()
        with torch.no_grad():
            score = auc(logits(v_users, v_items).numpy(), v_labels.numpy())
        if score > best:
            best, best_state, waited = score, {k: v.clone() for k, v in modules.state_dict().items()}, 0
        else:
            waited += 1
            if waited >= PATIENCE:
                break
    assert best_state is not None
    modules.load_state_dict(best_state)
    with torch.no_grad():
        return item_map(torch.from_numpy(content.astype(np.float32))).numpy(), best
