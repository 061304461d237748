"""`umair report --runs RUNS [--raw RAW]`: report.md in the form of the paper's Tables 3 and 4,
plus the oracle AUC of the sample site, and PNG charts (AUC / log loss per model, training curves)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ray_apps.runtime import setup_console
from umair_models.models.registry import BASELINES, DISPLAY_NAMES


def load_runs(runs: str | Path) -> list[dict]:
    out = []
    for f in sorted(Path(runs).glob("*/metrics.json")):
        r = json.loads(f.read_text())
        r["_dir"] = str(f.parent)
        out.append(r)
    return out


def oracle_auc(raw: str | Path, test_start: str, test_end: str) -> float | None:
    """AUC of the generator's true P(bookmark) on the test period's views [test_start, test_end): the best any model can do."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    from umair_models.metrics import auc

    path = Path(raw, "oracle")
    if not path.exists():
        return None
    t = ds.dataset(path).to_table(columns=["ts", "p_bookmark", "bookmarked"])
    t = t.filter(
        pc.and_(
            pc.greater_equal(t["ts"], pc.strptime(test_start, "%Y-%m-%d", "us", error_is_null=True).cast(t["ts"].type)),
            pc.less(t["ts"], pc.strptime(test_end, "%Y-%m-%d", "us", error_is_null=True).cast(t["ts"].type)),
        )
    )
    return auc(t["p_bookmark"].to_numpy(), t["bookmarked"].to_numpy())


def _row(name: str, r: dict, best: dict) -> str:
    def fmt(k: str, v: float) -> str:
        return f"**{v:.4f}**" if np.isclose(v, best[k]) else f"{v:.4f}"

    return (
        f"| {name} | {fmt('logloss', r['logloss'])} | {fmt('auc', r['auc'])} | {r['gauc']:.4f} | {r['parameters']:,} |"
    )


def global_steps(history: list[dict]) -> list[int]:
    """Steps counted across epochs: each point's in-epoch step plus the steps of the epochs before it."""
    last: dict[int, int] = {}
    for h in history:
        last[h["epoch"]] = max(last.get(h["epoch"], 0), h["step"])
    offset = {e: sum(n for f, n in last.items() if f < e) for e in last}
    return [h["step"] + offset[h["epoch"]] for h in history]


def _budget(rows: list[dict]) -> str:
    """The training budget the runs share, in words (or a warning when they differ)."""
    keys = ("epochs", "batch_size", "lr", "seed")
    budgets = {tuple(r.get("config", {}).get(k) for k in keys) for r in rows}
    if len(budgets) != 1:
        return "**the runs were trained with different budgets** (see each run's metrics.json)"
    epochs, batch, lr, seed = budgets.pop()
    return f"every model trained for {epochs} epoch(s) at batch {batch}, Adam lr {lr}, seed {seed}"


def _oracle_for(rows: list[dict], raw: str | Path | None) -> float | None:
    """The oracle AUC over the test period of the lake the runs were trained on (its run record says when)."""
    lakes = {str(r["lake"]) for r in rows if r.get("lake")}
    if not raw or len(lakes) != 1:
        return None
    from ray_apps.lake import lake_facts

    facts = lake_facts(lakes.pop())
    return oracle_auc(raw, facts.test_start, facts.test_end)


def write_report(runs: str | Path, raw: str | Path | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = Path(runs)
    rows = load_runs(runs)
    main = {r["model"]: r for r in rows if not r.get("variant")}
    variants = {r["variant"]: r for r in rows if r.get("variant")}
    order = [m for m in BASELINES if m in main] + (["umair_fps"] if "umair_fps" in main else [])
    lines = ["# UMAIR-FPS comparison", "", f"Runs: `{runs.resolve()}`. Test split; {_budget(rows)}.", ""]
    lines += [
        "## Table 3: performance comparison",
        "",
        "| Model | BCE Loss | AUC | GAUC | Parameters |",
        "|---|---|---|---|---|",
    ]
    table3 = [main[m] for m in order]
    if table3:
        best = {"logloss": min(r["logloss"] for r in table3), "auc": max(r["auc"] for r in table3)}
        lines += [_row(DISPLAY_NAMES[m], main[m], best) for m in order]
    oracle = _oracle_for(rows, raw)
    if oracle is not None:
        lines.append(f"| Oracle (true P(bookmark) of the sample site) | - | {oracle:.4f} | - | - |")
    if "umair_fps" in main and any(m in main for m in BASELINES):
        u = main["umair_fps"]
        base = [main[m] for m in BASELINES if m in main]
        by_auc, by_loss = max(base, key=lambda r: r["auc"]), min(base, key=lambda r: r["logloss"])
        lines += [
            "",
            f"UMAIR-FPS vs the best baseline on each metric: AUC {u['auc'] - by_auc['auc']:+.4f} "
            f"(vs {DISPLAY_NAMES[by_auc['model']]}), log loss {u['logloss'] - by_loss['logloss']:+.4f} "
            f"(vs {DISPLAY_NAMES[by_loss['model']]}).",
        ]
    if variants and "umair_fps" in main:
        lines += [
            "",
            "## Table 4: ablations of UMAIR-FPS",
            "",
            "| Variant | BCE Loss | AUC | GAUC | Parameters |",
            "|---|---|---|---|---|",
        ]
        group = list(variants.values()) + [main["umair_fps"]]
        best = {"logloss": min(r["logloss"] for r in group), "auc": max(r["auc"] for r in group)}
        lines += [_row(v, r, best) for v, r in variants.items()]
        lines.append(_row("UMAIR-FPS (w/ ATT*3)", main["umair_fps"], best))
    charts = runs / "charts"
    charts.mkdir(exist_ok=True)
    named = [
        (DISPLAY_NAMES.get(r["model"], r["model"]) + (f" {r['variant']}" if r.get("variant") else ""), r) for r in rows
    ]
    for key, label in (("auc", "test AUC"), ("logloss", "test log loss")):
        fig, ax = plt.subplots(figsize=(8, 0.35 * len(named) + 1.5))
        ax.barh([n for n, _ in named], [r[key] for _, r in named], color="#4477aa")
        if key == "auc" and oracle is not None:
            ax.axvline(oracle, color="#cc3311", ls="--", label=f"oracle {oracle:.3f}")
            ax.legend()
        lo = min(r[key] for _, r in named)
        ax.set_xlim(
            lo * 0.98 if key == "auc" else 0,
            max(r[key] for _, r in named) * 1.01
            if key == "logloss"
            else max([r[key] for _, r in named] + [oracle or 0]) * 1.01,
        )
        ax.set_xlabel(label)
        fig.tight_layout()
        fig.savefig(charts / f"{key}.png", dpi=110)
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for n, r in named:
        hist_file = Path(r["_dir"], "history.json")
        hist = json.loads(hist_file.read_text()) if hist_file.exists() else []
        if hist:
            ax.plot(global_steps(hist), [h["loss"] for h in hist], label=n, lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (20-step mean)")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(charts / "training_curves.png", dpi=110)
    plt.close(fig)
    lines += [
        "",
        "## Charts",
        "",
        "![AUC](charts/auc.png)",
        "![log loss](charts/logloss.png)",
        "![training curves](charts/training_curves.png)",
        "",
    ]
    out = runs / "report.md"
    out.write_text("\n".join(lines))
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Write report.md and charts for a runs folder.")
    p.add_argument("--runs", required=True)
    p.add_argument("--raw", default=None, help="raw landing zone of the sample site (adds the oracle AUC row)")
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    setup_console(announce=False)
    out = write_report(a.runs, a.raw)
    print(out.read_text())
    print(f"report written to {out} (charts in {out.parent / 'charts'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
