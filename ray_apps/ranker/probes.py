"""Linear probes: how much of each illustration's true style, subject and series a modality's item
vectors hold, as the encoder part of "Where the AUC goes" in a comparison report.

For each modality (e_STY, e_SEM, e_TSEM, as `embed` wrote them) and each true attribute of the
sample site (RAW/oracle_items), a multinomial logistic regression is fitted on the vectors of the
items with item_idx % HOLDOUT_MOD != 0 and scored on the others; its accuracy is reported beside
the rate of the held-out items' most common class (what a probe that learned nothing gets). A
modality that holds an attribute well above that rate gives the ranker something to learn from;
one at the majority rate gives it only noise.

Accuracy saturates: an attribute can be separable (accuracy near 1) and still far from the one-hot
geometry in which a Linear map gives each class a free vector of its own, which is what the oracle
vectors give the ranker. So each probe also reports `code_r2`: how much of the attribute's one-hot code
a ridge regression recovers, on the held-out items, from the vectors' first CODE_COMPONENTS whitened
principal components (what `vector_components=16` hands the ranker). Items of one class at one point
score 1; classes that are merely separable, e.g. arranged around a circle, score far lower.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

ATTRIBUTES = ("style", "subject", "series")
HOLDOUT_MOD = 5  # one item in five is held out of the probe's fit
L2 = 1e-3
CODE_COMPONENTS = 16  # principal components the code reading sees (the recommended vector_components)
CODE_RIDGE = 1.0  # ridge penalty of the code reading, on whitened components


def probe_accuracy(x: np.ndarray, y: np.ndarray, held_out: np.ndarray) -> dict[str, float | int]:
    """x [n, d] vectors, y [n] int classes, held_out [n] bool -> {accuracy, majority, items} on the
    held-out rows: a multinomial logistic regression (standardized inputs, L2, full-batch L-BFGS)."""
    fit, test = ~held_out, held_out
    classes, y_codes = np.unique(y, return_inverse=True)
    mean, std = x[fit].mean(0), x[fit].std(0) + 1e-6
    xs = torch.from_numpy(((x - mean) / std).astype(np.float32))
    labels = torch.from_numpy(y_codes.astype(np.int64))
    torch.manual_seed(0)
    linear = torch.nn.Linear(x.shape[1], len(classes))
    optimizer = torch.optim.LBFGS(linear.parameters(), max_iter=200, history_size=20, line_search_fn="strong_wolfe")
    loss_fn = torch.nn.CrossEntropyLoss()
    fit_t = torch.from_numpy(fit)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = loss_fn(linear(xs[fit_t]), labels[fit_t]) + L2 * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        predicted = linear(xs[torch.from_numpy(test)]).argmax(1).numpy()
    truth = y_codes[test]
    majority = np.bincount(truth).max() / len(truth) if len(truth) else float("nan")
    return {
        "accuracy": float((predicted == truth).mean()),
        "majority": float(majority),
        "items": int(test.sum()),
        "code_r2": code_recovery(x, y_codes, held_out),
    }


def code_recovery(x: np.ndarray, y: np.ndarray, held_out: np.ndarray, components: int = CODE_COMPONENTS) -> float:
    """x [n, d] vectors, y [n] int classes, held_out [n] bool -> R^2 on the held-out rows (mean over the
    classes that vary there) of a ridge regression from x's first `components` principal components
    (standardized x, fitted on the other rows, whitened) onto the one-hot code of y [n, C]."""
    fit = ~held_out
    code = np.eye(int(y.max()) + 1)[y]  # [n, C]
    xs = (x - x[fit].mean(0)) / (x[fit].std(0) + 1e-6)
    _, singular, directions = np.linalg.svd(xs[fit], full_matrices=False)
    k = min(components, len(singular))
    z = xs @ directions[:k].T / np.maximum(singular[:k] / np.sqrt(fit.sum()), 1e-6)  # [n, k], unit variance
    z_mean, code_mean = z[fit].mean(0), code[fit].mean(0)
    zc = z[fit] - z_mean
    weights = np.linalg.solve(zc.T @ zc + CODE_RIDGE * np.eye(k), zc.T @ (code[fit] - code_mean))  # [k, C]
    predicted = (z[held_out] - z_mean) @ weights + code_mean
    truth = code[held_out]
    total = ((truth - truth.mean(0)) ** 2).sum(0)
    varies = total > 0
    explained = 1 - ((truth - predicted) ** 2).sum(0)[varies] / total[varies]
    return float(explained.mean()) if varies.any() else float("nan")


def lake_probes(lake: str | Path, raw: str | Path, table: str | None = None) -> dict[str, dict[str, dict]] | None:
    """{modality: {attribute: probe_accuracy(...)}} for the lake's item_features (or `table` of that
    layout) against RAW/oracle_items (items with a usable vector only: image modalities need a decoded
    image); None when either is missing."""
    import pyarrow.dataset as ds

    from ray_apps.encoders.item_features import IMAGE_MODALITIES, MODALITIES, TABLE, blob_column
    from ray_apps.lake import read_table
    from umair_models import storage

    table = table or storage.join(lake, TABLE)
    if not (Path(raw, "oracle_items").exists() and storage.is_delta_table(table)):
        return None
    truth = ds.dataset(Path(raw, "oracle_items")).to_table(columns=["illust_id", *ATTRIBUTES]).to_pandas()
    features = read_table(table)
    ids = features["illust_id"].to_pandas()
    rows = truth.set_index("illust_id").reindex(ids)
    known = rows["style"].notna().to_numpy()
    item_idx = features["item_idx"].to_numpy()
    ok = features["ok"].to_numpy(zero_copy_only=False).astype(bool)
    out: dict[str, dict[str, dict]] = {}
    for name in MODALITIES:
        column = features[name]
        first = column.drop_null()
        if not len(first):
            continue
        vectors, has = blob_column(column, len(first[0].as_py()) // 2)
        use = known & has & (ok if name in IMAGE_MODALITIES else True)
        x = vectors[use].astype(np.float32)
        held_out = item_idx[use] % HOLDOUT_MOD == 0
        out[name] = {a: probe_accuracy(x, rows[a].to_numpy()[use].astype(np.int64), held_out) for a in ATTRIBUTES}
    return out
