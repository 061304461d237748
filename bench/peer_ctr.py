"""Our baselines against FuxiCTR's implementations (DIFM: deepctr-torch's, FuxiCTR has none) on the
same splits of MovieLens 100K, same hyper-parameters, same protocol (monitor validation AUC, patience
2, learning rate x0.1 on each epoch without improvement, best epoch restored, gradient norm clipped
at 10).

    # once: the data (docs/data/movielens-100k.md; never inside the project) and a
    # bench-only environment with FuxiCTR (never in the project's dependencies)
    python3 -m venv /work/fuxienv && /work/fuxienv/bin/pip install fuxictr==2.3.10 "polars<2"  # its scan_csv(dtypes=)
    echo "$PWD/.venv/lib/python3.11/site-packages" > /work/fuxienv/lib/python3.11/site-packages/zz_torch.pth
    git clone https://github.com/reczoo/FuxiCTR /work/FuxiCTR        # its model_zoo/ holds the models

    .venv/bin/python bench/peer_ctr.py --ml100k /work/data/ml-100k --work /work/peer \
        --fuxi-python /work/fuxienv/bin/python --fuxictr-repo /work/FuxiCTR [--models dcn,dcn_v2] [--seeds 2024]

    # DIFM against deepctr-torch's, in its own bench-only environment (the same .pth trick for torch)
    python3 -m venv /work/deepctrenv && /work/deepctrenv/bin/pip install --no-deps deepctr-torch==0.3.0
    echo "$PWD/.venv/lib/python3.11/site-packages" > /work/deepctrenv/lib/python3.11/site-packages/zz_torch.pth
    .venv/bin/python bench/peer_ctr.py --ml100k /work/data/ml-100k --work /work/peer \
        --deepctr-python /work/deepctrenv/bin/python --models difm --seeds 2024,2025,2026

Steps (each skipped when its output exists): `prepare` writes the splits (80/10/10 at random, seed
2024; label rating >= 4) as CSV for FuxiCTR and as Delta tables + a dataset YAML for us, indexed
on the training split only (values unseen there are OOV, as FuxiCTR's processor does); `ours`
trains each model with `ray_apps.ranker.job.run` (Ray Train); `fuxictr` runs FuxiCTR's models in
the other environment (this file, `--side fuxictr`); `deepctr` builds deepctr-torch's DIFM on our
very Delta splits and trains it with this file's loop, which follows the protocol above (deepctr-torch's
own `fit` has no learning-rate decay, best-epoch restore or clipping, and sums the batch loss where
FuxiCTR and we average it); the summary goes to WORK/summary.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CATEGORICAL = ("user_id", "item_id", "gender", "age", "occupation", "zip3", "year")
GENRE_LEN = 6

# The shared hyper-parameters (FuxiCTR's usual settings for a small MovieLens set, not tuned for either side).
COMMON = {"embedding_dim": 16, "embedding_l2": 1e-2, "batch_size": 1024, "lr": 1e-3, "epochs": 30, "dropout": 0.1}
HIDDEN = [400, 400, 400]
# model: (FuxiCTR model_zoo folder, class, FuxiCTR params, our overrides), the same architecture on both sides.
MODELS = {
    "dcn": ("DCN/DCN_torch", "DCN", {"dnn_hidden_units": HIDDEN, "crossing_layers": 3}, {"num_cross_layers": 3}),
    "dcn_v2": (
        "DCNv2", "DCNv2",
        {"model_structure": "parallel", "use_low_rank_mixture": False, "parallel_dnn_hidden_units": HIDDEN,
         "stacked_dnn_hidden_units": HIDDEN, "num_cross_layers": 3, "low_rank": 32, "num_experts": 4},
        {"structure": "parallel", "num_cross_layers": 3},
    ),
    "xdeepfm": (
        "xDeepFM", "xDeepFM", {"dnn_hidden_units": HIDDEN, "cin_hidden_units": [16, 16, 16]},
        {"cin_layer_sizes": [16, 16, 16], "cin_split_half": False},
    ),
    "fibinet": (
        "FiBiNET", "FiBiNET", {"hidden_units": HIDDEN, "reduction_ratio": 3, "bilinear_type": "field_interaction"},
        {"reduction_ratio": 3, "bilinear_type": "field_interaction"},
    ),
    "finalmlp": (
        "FinalMLP", "FinalMLP",
        {"mlp1_hidden_units": HIDDEN, "mlp2_hidden_units": [800], "use_fs": True, "fs_hidden_units": [800],
         "fs1_context": [], "fs2_context": [], "num_heads": 1, "mlp1_dropout": COMMON["dropout"],
         "mlp2_dropout": COMMON["dropout"]},
        {"mlp1_hidden": HIDDEN, "mlp2_hidden": [800], "use_fs": True, "fs_hidden": 800, "num_heads": 1,
         "mlp1_dropout": COMMON["dropout"], "mlp2_dropout": COMMON["dropout"]},
    ),
}  # fmt: skip
# deepctr-torch models: (class, its params, our overrides). Its L2 is l2 * sum(W^2) where FuxiCTR's and ours
# is l2 / 2 * ||W||^2, hence the halves; its linear (first-order) table is regularised like ours.
DEEPCTR_MODELS = {
    "difm": (
        "DIFM",
        {"att_head_num": 4, "att_res": True, "dnn_hidden_units": HIDDEN, "dnn_dropout": COMMON["dropout"],
         "l2_reg_embedding": COMMON["embedding_l2"] / 2, "l2_reg_linear": COMMON["embedding_l2"] / 2, "l2_reg_dnn": 0},
        {"att_heads": 4, "att_dim": COMMON["embedding_dim"], "use_residual": True},
    ),
}  # fmt: skip


def our_overrides(model: str) -> dict:
    return MODELS[model][3] if model in MODELS else DEEPCTR_MODELS[model][2]


def load_ml100k(folder: Path):
    import numpy as np
    import pandas as pd

    ratings = pd.read_csv(folder / "u.data", sep="\t", names=["user", "item", "rating", "ts"])
    users = pd.read_csv(folder / "u.user", sep="|", names=["user", "age", "gender", "occupation", "zip"])
    items = pd.read_csv(folder / "u.item", sep="|", encoding="latin-1", header=None)
    genre_names = pd.read_csv(folder / "u.genre", sep="|", names=["name", "id"]).sort_values("id")["name"].tolist()
    flags = items.iloc[:, 5:24].to_numpy()
    frame = pd.DataFrame(
        {
            "item": items[0],
            "year": pd.to_datetime(items[2], format="%d-%b-%Y", errors="coerce")
            .dt.year.fillna(0)
            .astype(int)
            .astype(str),
            "genres": ["|".join(genre_names[j] for j in np.nonzero(row)[0]) for row in flags],
        }
    )
    df = ratings.merge(users, on="user").merge(frame, on="item")
    out = pd.DataFrame(
        {
            "user_id": df["user"].astype(str),
            "item_id": df["item"].astype(str),
            "gender": df["gender"],
            "age": pd.cut(df["age"], [0, 17, 24, 34, 44, 49, 55, 200], labels=False).astype(str),
            "occupation": df["occupation"],
            "zip3": df["zip"].astype(str).str[:3],
            "year": df["year"],
            "genres": df["genres"],
            "label": (df["rating"] >= 4).astype(int),
        }
    )
    order = np.random.default_rng(2024).permutation(len(out))
    n = len(out)
    cut = {"train": order[: int(0.8 * n)], "valid": order[int(0.8 * n) : int(0.9 * n)], "test": order[int(0.9 * n) :]}
    return {split: out.iloc[rows].reset_index(drop=True) for split, rows in cut.items()}


def prepare(ml100k: Path, work: Path) -> None:
    """WORK/csv/{split}.csv (FuxiCTR) and WORK/ours/{split} Delta + dataset.yaml (indexed on train only)."""
    import numpy as np
    import pyarrow as pa
    import yaml
    from deltalake import write_deltalake

    if (work / "ours" / "dataset.yaml").exists():
        return
    splits = load_ml100k(ml100k)
    (work / "csv").mkdir(parents=True, exist_ok=True)
    for split, frame in splits.items():
        frame.to_csv(work / "csv" / f"{split}.csv", index=False)
    train = splits["train"]
    vocab = {c: {v: i + 1 for i, v in enumerate(sorted(train[c].unique()))} for c in CATEGORICAL}
    genres = sorted({g for s in train["genres"] for g in s.split("|") if g})
    genre_index = {g: i + 1 for i, g in enumerate(genres)}
    features = [{"name": c, "kind": "categorical", "vocab_size": len(vocab[c]) + 1} for c in CATEGORICAL]
    features.append(
        {"name": "genres", "kind": "multi_categorical", "vocab_size": len(genres) + 1, "max_len": GENRE_LEN}
    )
    for split, frame in splits.items():
        columns = {c: pa.array(frame[c].map(vocab[c]).fillna(0).astype(np.int64)) for c in CATEGORICAL}
        columns["genres"] = pa.array([[genre_index.get(g, 0) for g in s.split("|") if g] for s in frame["genres"]])
        columns["label"] = pa.array(frame["label"].astype(np.float32))
        columns["user_key"] = pa.array(frame["user_id"].astype(np.int64))
        write_deltalake(str(work / "ours" / split), pa.table(columns), mode="overwrite")
    dataset = {"tables": {s: s for s in splits}, "label": "label", "user_column": "user_key", "features": features}
    (work / "ours" / "dataset.yaml").write_text(yaml.safe_dump(dataset, sort_keys=False))
    print(f"prepare: {', '.join(f'{s} {len(f):,} rows' for s, f in splits.items())} -> {work}", flush=True)


def run_ours(work: Path, models: list[str], seeds: list[int], initializer: str = "torch") -> None:
    sys.path.insert(0, str(ROOT))
    from ray_apps.console import setup_console
    from ray_apps.ranker.config import TrainConfig
    from ray_apps.ranker.data import DatasetConfig
    from ray_apps.ranker.job import run

    setup_console(announce=False)
    out = work / ("results_ours.json" if initializer == "torch" else f"results_ours_{initializer}.json")
    results = json.loads(out.read_text()) if out.exists() else {}
    dataset = DatasetConfig.from_yaml(work / "ours" / "dataset.yaml")
    for model in models:
        for seed in seeds:
            key = f"{model}/{seed}"
            if key in results:
                continue
            overrides = {
                "embedding_dim": COMMON["embedding_dim"], "embedding_l2": COMMON["embedding_l2"], **our_overrides(model),
                "initializer": initializer,
            }  # fmt: skip
            if model != "finalmlp":
                overrides.update(dnn_hidden=HIDDEN, dnn_dropout=COMMON["dropout"])
            cfg = TrainConfig(
                model=model, overrides=overrides, epochs=COMMON["epochs"], batch_size=COMMON["batch_size"],
                lr=COMMON["lr"], early_stop=True, monitor="auc", patience=2, lr_decay=0.1, lr_floor=1e-6,
                grad_clip=10.0, seed=seed, in_memory=True,
            )  # fmt: skip
            t = time.time()
            r = run(
                str(work / "ours"), str(work / "runs_ours"), cfg, dataset, run_name=f"{model}_{initializer}_s{seed}"
            )
            results[key] = {
                "auc": r["auc"], "logloss": r["logloss"], "best_epoch": r["best_epoch"],
                "epochs": r["epochs_trained"], "seconds": round(time.time() - t, 1),
            }  # fmt: skip
            out.write_text(json.dumps(results, indent=1))
            print(
                f"ours    {key:<14} test AUC {r['auc']:.4f} log loss {r['logloss']:.4f} (best epoch {r['best_epoch']})",
                flush=True,
            )


def run_fuxictr(work: Path, repo: Path, models: list[str], seeds: list[int]) -> None:
    """Runs inside the FuxiCTR environment."""
    import logging

    from fuxictr.features import FeatureMap
    from fuxictr.preprocess import FeatureProcessor, build_dataset
    from fuxictr.pytorch.dataloaders import RankDataLoader
    from fuxictr.pytorch.torch_utils import seed_everything

    logging.basicConfig(filename=str(work / "fuxictr.log"), level=logging.INFO)
    out = work / "results_fuxictr.json"
    results = json.loads(out.read_text()) if out.exists() else {}
    base = {
        "dataset_id": "ml100k", "data_root": str(work / "fuxictr_data"), "data_format": "csv",
        "train_data": str(work / "csv" / "train.csv"), "valid_data": str(work / "csv" / "valid.csv"),
        "test_data": str(work / "csv" / "test.csv"), "min_categr_count": 1,
        "feature_cols": [
            {"name": list(CATEGORICAL), "active": True, "dtype": "str", "type": "categorical"},
            {"name": "genres", "active": True, "dtype": "str", "type": "sequence", "splitter": "|",
             "max_len": GENRE_LEN, "padding": "post"},
        ],
        "label_col": {"name": "label", "dtype": "float"},
        "model_root": str(work / "fuxictr_checkpoints"), "verbose": 0, "early_stop_patience": 2,
        "pickle_feature_encoder": True, "save_best_only": True, "eval_steps": None, "debug_mode": False,
        "group_id": None, "use_features": None, "feature_specs": None, "feature_config": None,
        "loss": "binary_crossentropy", "metrics": ["logloss", "AUC"], "task": "binary_classification",
        "optimizer": "adam", "monitor": "AUC", "monitor_mode": "max", "shuffle": True, "num_workers": 1,
        "learning_rate": COMMON["lr"], "embedding_dim": COMMON["embedding_dim"],
        "embedding_regularizer": COMMON["embedding_l2"], "net_regularizer": 0, "batch_size": COMMON["batch_size"],
        "epochs": COMMON["epochs"], "net_dropout": COMMON["dropout"], "batch_norm": False, "max_gradient_norm": 10.0,
        "gpu": -1,
    }  # fmt: skip
    data_dir = Path(base["data_root"], "ml100k")
    Path(base["model_root"], "ml100k").mkdir(parents=True, exist_ok=True)
    params = dict(base)
    if not (data_dir / "feature_map.json").exists():
        params["train_data"], params["valid_data"], params["test_data"] = build_dataset(
            FeatureProcessor(**params), **params
        )
    else:
        params.update(
            {s: str(data_dir / f"{s.split('_')[0]}.parquet") for s in ("train_data", "valid_data", "test_data")}
        )
        params["data_format"] = "parquet"
    feature_map = FeatureMap("ml100k", str(data_dir))
    feature_map.load(str(data_dir / "feature_map.json"), params)
    for model in models:
        folder, cls_name, model_params, _ = MODELS[model]
        sys.path.insert(0, str(repo / "model_zoo" / folder))
        import importlib

        src = importlib.import_module("src")
        src = importlib.reload(src)
        cls = getattr(src, cls_name)
        sys.path.pop(0)
        sys.modules.pop("src", None)
        for seed in seeds:
            key = f"{model}/{seed}"
            if key in results:
                continue
            seed_everything(seed=seed)
            t = time.time()
            net = cls(feature_map, **{**params, **model_params, "seed": seed, "model_id": f"{model}_s{seed}"})
            train_gen, valid_gen = RankDataLoader(feature_map, stage="train", **params)
            net.fit(train_gen, validation_data=valid_gen, **params)
            test_gen = RankDataLoader(feature_map, stage="test", **params)
            test = net.evaluate(test_gen)
            results[key] = {
                "auc": float(test["AUC"]), "logloss": float(test["logloss"]), "epochs": int(net._epoch_index + 1),
                "seconds": round(time.time() - t, 1),
            }  # fmt: skip
            out.write_text(json.dumps(results, indent=1))
            print(f"fuxictr {key:<14} test AUC {test['AUC']:.4f} log loss {test['logloss']:.4f}", flush=True)


def run_deepctr(work: Path, models: list[str], seeds: list[int]) -> None:
    """Runs inside the deepctr-torch environment: its models on our indexed splits, trained by `fit_protocol`."""
    import numpy as np
    import torch
    import yaml
    from deepctr_torch import models as zoo
    from deepctr_torch.inputs import SparseFeat, VarLenSparseFeat

    from ray_apps.lake import read_table

    torch.set_num_threads(2)
    dataset = yaml.safe_load((work / "ours" / "dataset.yaml").read_text())
    sizes = {f["name"]: f["vocab_size"] for f in dataset["features"]}
    dim = COMMON["embedding_dim"]
    columns = [SparseFeat(c, sizes[c], embedding_dim=dim) for c in CATEGORICAL] + [
        VarLenSparseFeat(SparseFeat("genres", sizes["genres"], embedding_dim=dim), maxlen=GENRE_LEN, combiner="mean")
    ]

    def load(split: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
        frame = read_table(work / "ours" / split).to_pandas()
        x = {c: frame[c].to_numpy(np.int64)[:, None] for c in CATEGORICAL}
        genres = np.zeros((len(frame), GENRE_LEN), np.int64)
        for i, row in enumerate(frame["genres"]):
            genres[i, : min(len(row), GENRE_LEN)] = row[:GENRE_LEN]
        x["genres"] = genres
        return x, frame["label"].to_numpy(np.float32)

    splits = {s: load(s) for s in ("train", "valid", "test")}
    out = work / "results_deepctr.json"
    results = json.loads(out.read_text()) if out.exists() else {}
    for model in models:
        cls_name, params, _ = DEEPCTR_MODELS[model]
        for seed in seeds:
            key = f"{model}/{seed}"
            if key in results:
                continue
            np.random.seed(seed)
            torch.manual_seed(seed)
            net = getattr(zoo, cls_name)(columns, columns, seed=seed, device="cpu", **params)

            def as_tensor(x: dict[str, np.ndarray], net=net) -> torch.Tensor:
                return torch.from_numpy(np.concatenate([x[name] for name in net.feature_index], axis=1)).float()

            data = {s: (as_tensor(x), torch.from_numpy(y)) for s, (x, y) in splits.items()}
            t = time.time()
            r = fit_protocol(net, data, seed)
            results[key] = {**r, "seconds": round(time.time() - t, 1)}
            out.write_text(json.dumps(results, indent=1))
            print(f"deepctr {key:<14} test AUC {r['auc']:.4f} log loss {r['logloss']:.4f} (best epoch {r['best_epoch']})",
                  flush=True)  # fmt: skip


def fit_protocol(net, data: dict, seed: int) -> dict:
    """The protocol of this benchmark for a model whose forward(x [B, C]) gives probabilities [B, 1] and
    whose `get_regularization_loss()` gives its L2 term: Adam, mean log loss + L2 per batch, gradient norm
    clipped at 10; after each epoch the validation AUC: a better one keeps the weights, a worse one
    multiplies the learning rate by 0.1 (floor 1e-6) and the second in a row stops; the best weights
    are restored for the test. -> test AUC / log loss, best epoch, epochs trained."""
    import copy

    import torch
    import torch.nn.functional as F
    from sklearn.metrics import log_loss, roc_auc_score

    def predict(x: torch.Tensor) -> torch.Tensor:
        net.eval()
        with torch.no_grad():
            return torch.cat([net(x[i : i + 8192]).squeeze(-1) for i in range(0, len(x), 8192)])

    x, y = data["train"]
    optimizer = torch.optim.Adam(net.parameters(), lr=COMMON["lr"])
    generator = torch.Generator().manual_seed(seed)
    best, best_state, best_epoch, misses, epoch = -1.0, None, 0, 0, 0
    for epoch in range(1, COMMON["epochs"] + 1):
        net.train()
        for rows in torch.randperm(len(x), generator=generator).split(COMMON["batch_size"]):
            loss = F.binary_cross_entropy(net(x[rows]).squeeze(-1), y[rows]) + net.get_regularization_loss().squeeze()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
            optimizer.step()
        auc = roc_auc_score(data["valid"][1].numpy(), predict(data["valid"][0]).numpy())
        if auc > best:
            best, best_state, best_epoch, misses = auc, copy.deepcopy(net.state_dict()), epoch, 0
        else:
            misses += 1
            for group in optimizer.param_groups:
                group["lr"] = max(group["lr"] * 0.1, 1e-6)
            if misses >= 2:
                break
    net.load_state_dict(best_state)
    p = predict(data["test"][0]).numpy()
    y_test = data["test"][1].numpy()
    return {
        "auc": float(roc_auc_score(y_test, p)), "logloss": float(log_loss(y_test, p.astype("float64"))),
        "best_epoch": best_epoch, "epochs": epoch,
    }  # fmt: skip


def summary(work: Path, models: list[str], seeds: list[int]) -> str:
    """WORK/summary.md: per model, ours against the reference implementation, mean ± sd over the seeds."""
    import numpy as np

    peers = {m: ("FuxiCTR", "results_fuxictr.json") for m in MODELS}
    peers.update({m: ("deepctr-torch", "results_deepctr.json") for m in DEEPCTR_MODELS})
    lines = [f"MovieLens 100K, seeds {seeds}; {COMMON}; hidden {HIDDEN}", ""]

    def stat(rows: list[dict], k: str) -> str:
        values = [r[k] for r in rows]
        return f"{np.mean(values):.4f}" + (f" ± {np.std(values, ddof=1):.4f}" if len(values) > 1 else "")

    def read(name: str) -> dict:
        return json.loads((work / name).read_text()) if (work / name).exists() else {}

    for name in ("results_ours.json", "results_ours_xavier.json"):
        ours = read(name)
        if not ours:
            continue
        lines += [
            f"Ours with initializer `{'xavier' if 'xavier' in name else 'torch'}`:",
            "",
            "| Model | reference | ours AUC | reference AUC | ours - reference | ours log loss | reference log loss "
            "| epochs (ours / reference) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for m in models:
            peer, file = peers[m]
            theirs = read(file)
            a = [ours[f"{m}/{s}"] for s in seeds if f"{m}/{s}" in ours]
            b = [theirs[f"{m}/{s}"] for s in seeds if f"{m}/{s}" in theirs]
            if a and b:
                gap = np.mean([r["auc"] for r in a]) - np.mean([r["auc"] for r in b])
                lines.append(
                    f"| {m} | {peer} | {stat(a, 'auc')} | {stat(b, 'auc')} | {gap:+.4f} | {stat(a, 'logloss')} | "
                    f"{stat(b, 'logloss')} | {'/'.join(str(r['epochs']) for r in a)} / "
                    f"{'/'.join(str(r['epochs']) for r in b)} |"
                )
        lines.append("")
    text = "\n".join(lines) + "\n"
    (work / "summary.md").write_text(text)
    return text


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ml100k", type=Path, help="folder with u.data, u.user, u.item, u.genre")
    p.add_argument("--work", type=Path, required=True, help="working folder outside the project")
    p.add_argument("--fuxi-python", default=None, help="python of the environment with FuxiCTR installed")
    p.add_argument("--fuxictr-repo", type=Path, default=None, help="a checkout of reczoo/FuxiCTR (its model_zoo/)")
    p.add_argument("--deepctr-python", default=None, help="python of the environment with deepctr-torch installed")
    p.add_argument("--models", default=",".join([*MODELS, *DEEPCTR_MODELS]))
    p.add_argument("--seeds", default="2024")
    p.add_argument("--side", choices=("both", "ours", "fuxictr", "deepctr"), default="both")
    p.add_argument("--initializer", choices=("torch", "xavier"), default="torch", help="our models' initializer")
    p.add_argument("--epochs", type=int, default=COMMON["epochs"], help="most epochs a run may train (smoke tests: 1)")
    a = p.parse_args()
    COMMON["epochs"] = a.epochs
    models, seeds = a.models.split(","), [int(s) for s in a.seeds.split(",")]
    a.work.mkdir(parents=True, exist_ok=True)
    if a.side == "fuxictr":
        run_fuxictr(a.work, a.fuxictr_repo, models, seeds)
        return 0
    if a.side == "deepctr":
        run_deepctr(a.work, models, seeds)
        return 0
    prepare(a.ml100k, a.work)
    if a.side in ("both", "ours"):
        run_ours(a.work, models, seeds, a.initializer)
    if a.side == "both":
        for side, python, group, extra in (
            ("fuxictr", a.fuxi_python, MODELS, ["--fuxictr-repo", str(a.fuxictr_repo)]),
            ("deepctr", a.deepctr_python, DEEPCTR_MODELS, []),
        ):
            names = [m for m in models if m in group]
            if not names:
                continue
            if not python or (side == "fuxictr" and not a.fuxictr_repo):
                raise SystemExit(f"--{side.replace('fuxictr', 'fuxi')}-python (and for FuxiCTR --fuxictr-repo) "
                                 f"are needed for {', '.join(names)}")  # fmt: skip
            subprocess.run(
                [python, __file__, "--side", side, "--work", str(a.work), "--models", ",".join(names),
                 "--seeds", a.seeds, "--epochs", str(a.epochs), *extra],
                check=True,
            )  # fmt: skip
    print(summary(a.work, models, seeds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
