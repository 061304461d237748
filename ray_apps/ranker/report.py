"""`umair report --runs RUNS [--raw RAW]`: report.md in the form of the paper's Tables 3 and 4 (mean ± sd
where runs were trained with several seeds, the +MM controls), plus the learnable ceiling and the
oracle AUC of a sample site, and PNG charts (AUC / log loss per model with error bars, training
curves with the validation metric per epoch)."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ray_apps.console import setup_console
from ray_apps.ranker.auc_budget import cached_ceiling, cached_probes, oracle_auc, where_auc_goes
from ray_apps.ranker.budget import budget_in_words, budget_note
from ray_apps.ranker.config import CONTROL
from ray_apps.ranker.oracle_vectors import TABLE as ORACLE_TABLE
from ray_apps.ranker.random_modality import TABLE as RANDOM_TABLE
from ray_apps.ranker.random_modality import vectors_never_hurt
from ray_apps.ranker.selection import candidates, picked_by_validation
from umair_models.models.registry import BASELINES, DISPLAY_NAMES


def load_runs(runs: str | Path) -> list[dict]:
    out = []
    for f in sorted(Path(runs).glob("*/metrics.json")):
        r = json.loads(f.read_text())
        r["_dir"] = str(f.parent)
        out.append(r)
    return out


@dataclass
class Group:
    """The runs of one table row: one model (or variant, or +MM control) over one or more seeds."""

    label: str
    model: str
    variant: str | None
    control: bool
    runs: list[dict]

    @property
    def key(self) -> tuple[str, str | None, bool]:
        return self.model, self.variant, self.control

    def values(self, key: str) -> np.ndarray:
        return np.array([r[key] for r in self.runs], float)

    def mean(self, key: str) -> float:
        return float(self.values(key).mean())

    def sd(self, key: str) -> float:
        """Sample standard deviation over the seeds (0 with one seed)."""
        v = self.values(key)
        return float(v.std(ddof=1)) if len(v) > 1 else 0.0

    def cell(self, key: str, bold: bool) -> str:
        text = f"{self.mean(key):.4f}" + (f" ± {self.sd(key):.4f}" if len(self.runs) > 1 else "")
        return f"**{text}**" if bold else text


def vector_table(run: dict) -> str | None:
    """The item-vector table a run was trained on when a control's (ORACLE_TABLE: the site's true
    attributes; RANDOM_TABLE: embed's vectors plus a noise vector), else None."""
    table = run.get("inputs", {}).get("item_features_table")
    return table if table in (ORACLE_TABLE, RANDOM_TABLE) else None


def group_runs(rows: list[dict]) -> dict[tuple[str, str | None, bool], Group]:
    """(model, variant, is +MM control) -> its runs over all seeds, in a stable order."""
    groups: dict[tuple[str, str | None, bool], Group] = {}
    for r in sorted(rows, key=lambda r: (r["run"], r.get("config", {}).get("seed", 0))):
        control = bool(r.get("config", {}).get("overrides", {}).get("use_pretrained")) and r["model"] != "umair_fps"
        key = (r["model"], r.get("variant"), control)
        label = r.get("variant") or DISPLAY_NAMES.get(r["model"], r["model"]) + (f" {CONTROL}" if control else "")
        groups.setdefault(key, Group(label, r["model"], r.get("variant"), control, [])).runs.append(r)
    return groups


def difference(a: Group, b: Group, key: str) -> str:
    """a - b on `key`, marked when it is within the seed-to-seed noise (|diff| < 2 standard errors)."""
    diff = a.mean(key) - b.mean(key)
    text = f"{diff:+.4f}"
    if len(a.runs) > 1 and len(b.runs) > 1:
        se = float(np.sqrt(a.sd(key) ** 2 / len(a.runs) + b.sd(key) ** 2 / len(b.runs)))
        if se == 0:
            text += " (no seed-to-seed spread)"
        else:
            text += " (within seed noise)" if abs(diff) < 2 * se else f" ({abs(diff) / se:.1f} standard errors)"
    return text


def _table(groups: list[Group], extra: list[str] | None = None) -> list[str]:
    seeds = max(len(g.runs) for g in groups)
    best_loss = min(g.mean("logloss") for g in groups)
    best_auc = max(g.mean("auc") for g in groups)
    lines = [
        "| Model | BCE Loss | AUC | GAUC | Parameters |" + (" Seeds |" if seeds > 1 else ""),
        "|---|---|---|---|---|" + ("---|" if seeds > 1 else ""),
    ]
    for g in groups:
        lines.append(
            f"| {g.label} | {g.cell('logloss', bool(np.isclose(g.mean('logloss'), best_loss)))} "
            f"| {g.cell('auc', bool(np.isclose(g.mean('auc'), best_auc)))} | {g.cell('gauc', False)} "
            f"| {int(g.runs[0]['parameters']):,} |" + (f" {len(g.runs)} |" if seeds > 1 else "")
        )
    return lines + list(extra or [])


def global_steps(history: list[dict]) -> list[int]:
    """Steps counted across epochs: each point's in-epoch step plus the steps of the epochs before it."""
    last: dict[int, int] = {}
    for h in history:
        last[h["epoch"]] = max(last.get(h["epoch"], 0), h["step"])
    offset = {e: sum(n for f, n in last.items() if f < e) for e in last}
    return [h["step"] + offset[h["epoch"]] for h in history]


def _one_lake(rows: list[dict], raw: str | Path | None) -> str | None:
    """The lake every run was trained on, when there is one and a raw zone to compare with."""
    lakes = {str(r["lake"]) for r in rows if r.get("lake")}
    return lakes.pop() if raw and len(lakes) == 1 else None


def write_report(runs: str | Path, raw: str | Path | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = Path(runs)
    every = load_runs(runs)
    rows = [r for r in every if vector_table(r) is None]
    oracle_groups = list(group_runs([r for r in every if vector_table(r) == ORACLE_TABLE]).values())
    groups = group_runs(rows)
    noise = [
        (g, groups[k])
        for k, g in group_runs([r for r in every if vector_table(r) == RANDOM_TABLE]).items()
        if k in groups
    ]
    main = {m: groups[(m, None, False)] for m in ["umair_fps", *BASELINES] if (m, None, False) in groups}
    controls = [groups[(m, None, True)] for m in BASELINES if (m, None, True) in groups]
    variants = [g for (_, v, _), g in groups.items() if v]
    lines = ["# UMAIR-FPS comparison", "", f"Runs: `{runs.resolve()}`. Test split; {budget_in_words(rows)}.", ""]
    lines += budget_note(rows)
    lake = _one_lake(rows, raw)
    facts = None
    if lake is not None:
        from ray_apps.lake import lake_facts

        facts = lake_facts(lake)
    references = []
    oracle = ceiling = probes = None
    if facts is not None and raw is not None:
        oracle = oracle_auc(raw, facts.test_start, facts.test_end)
        probes = cached_probes(runs, raw, str(lake))
        found = cached_ceiling(runs, raw, facts)
        ceiling = found["auc"] if found else None
        if ceiling is not None:
            references.append(
                "| Learnable ceiling (given the true style, subject and series; fitted on the training period) "
                f"| - | {ceiling:.4f} | - | - |"
            )
        if oracle is not None:
            references.append(f"| Oracle (true P(bookmark) of the sample site) | - | {oracle:.4f} | - | - |")
    table3 = [main[m] for m in BASELINES if m in main] + controls + ([main["umair_fps"]] if "umair_fps" in main else [])
    lines += ["## Table 3: performance comparison", ""]
    if table3:
        lines += _table(table3, references)
    if controls:
        lines += [
            "",
            f"`{CONTROL}`: the baseline given the same item vectors as extra fields (each projected to its embedding "
            "width): it separates what the item vectors add from what UMAIR-FPS's fusion adds.",
        ]
    if "umair_fps" in main and any(m in main for m in BASELINES):
        u = main["umair_fps"]
        base = [main[m] for m in BASELINES if m in main]
        by_auc, by_loss = max(base, key=lambda g: g.mean("auc")), min(base, key=lambda g: g.mean("logloss"))
        lines += [
            "",
            f"UMAIR-FPS vs the best baseline on each metric: AUC {difference(u, by_auc, 'auc')} "
            f"(vs {by_auc.label}), log loss {difference(u, by_loss, 'logloss')} (vs {by_loss.label}).",
        ]
        if controls:
            c = max(controls, key=lambda g: g.mean("auc"))
            lines.append(f"UMAIR-FPS vs the best {CONTROL} control: AUC {difference(u, c, 'auc')} (vs {c.label}).")
    if ceiling is not None and table3:
        lines.append(
            "Share of the learnable signal captured (test AUC above 0.5, relative to the ceiling's): "
            + ", ".join(f"{g.label} {(g.mean('auc') - 0.5) / (ceiling - 0.5):.0%}" for g in table3)
            + "."
        )
    with_vectors = controls + ([main["umair_fps"]] if "umair_fps" in main else [])
    if facts is not None:
        pairs = [
            (g.label, g.mean("auc"), next((o.mean("auc") for o in oracle_groups if o.key == g.key), None))
            for g in with_vectors
        ]
        best = max(pairs, key=lambda p: p[1], default=None)
        lines += [""] + where_auc_goes(best, ceiling, oracle, probes, [p for p in pairs if p[2] is not None])
    if noise:
        lines += [""] + vectors_never_hurt(
            [(g.label, b.cell("auc", False), g.cell("auc", False), difference(g, b, "auc")) for g, b in noise]
        )
    if variants and "umair_fps" in main:
        full = Group("UMAIR-FPS (w/ ATT*3)", "umair_fps", None, False, main["umair_fps"].runs)
        lines += ["", "## Table 4: ablations of UMAIR-FPS", ""] + _table([*variants, full])
    lines += ["", *picked] if (picked := picked_by_validation(candidates(groups.values()))) else []
    _charts(plt, runs, list(groups.values()), oracle, ceiling)
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


def _charts(plt: Any, runs: Path, groups: list[Group], oracle: float | None, ceiling: float | None) -> None:
    """AUC / log loss bars (error bars: sd over seeds) and training curves (loss; validation AUC per epoch)."""
    charts = runs / "charts"
    charts.mkdir(exist_ok=True)
    names = [f"UMAIR-FPS {g.variant}" if g.variant else g.label for g in groups]
    marks = [(v, c, n) for v, c, n in ((oracle, "#cc3311", "oracle"), (ceiling, "#ee7733", "learnable ceiling")) if v]
    for key, label in (("auc", "test AUC"), ("logloss", "test log loss")):
        fig, ax = plt.subplots(figsize=(8, 0.35 * len(groups) + 1.5))
        means, sds = [g.mean(key) for g in groups], [g.sd(key) for g in groups]
        ax.barh(names, means, xerr=sds, color="#4477aa", ecolor="#222222", capsize=3)
        top = max(m + s for m, s in zip(means, sds, strict=True))
        if key == "auc":
            for value, color, name in marks:
                ax.axvline(value, color=color, ls="--", label=f"{name} {value:.3f}")
            if marks:
                ax.legend()
            top = max([top] + [v for v, _, _ in marks])
        lo = min(m - s for m, s in zip(means, sds, strict=True))
        ax.set_xlim(lo * 0.98 if key == "auc" else 0, top * 1.01)
        ax.set_xlabel(label + (" (mean ± sd over seeds)" if any(len(g.runs) > 1 for g in groups) else ""))
        fig.tight_layout()
        fig.savefig(charts / f"{key}.png", dpi=110)
        plt.close(fig)
    fig, (loss_ax, valid_ax) = plt.subplots(1, 2, figsize=(12, 4.5))
    validated = False
    for name, g in zip(names, groups, strict=True):
        r = g.runs[0]  # the first seed's curves
        hist_file, epochs_file = Path(r["_dir"], "history.json"), Path(r["_dir"], "epochs.json")
        hist = json.loads(hist_file.read_text()) if hist_file.exists() else []
        if hist:
            loss_ax.plot(global_steps(hist), [h["loss"] for h in hist], label=name, lw=1)
        epochs = [e for e in (json.loads(epochs_file.read_text()) if epochs_file.exists() else []) if "valid_auc" in e]
        if epochs:
            validated = True
            valid_ax.plot([e["epoch"] for e in epochs], [e["valid_auc"] for e in epochs], marker="o", label=name, lw=1)
    loss_ax.set_xlabel("step")
    loss_ax.set_ylabel("training loss (20-step mean)")
    loss_ax.legend(fontsize=6, ncol=2)
    valid_ax.set_xlabel("epoch")
    valid_ax.set_ylabel("validation AUC")
    if validated:
        valid_ax.legend(fontsize=6, ncol=2)
    else:
        valid_ax.text(0.5, 0.5, "no validation per epoch\n(train with --early-stop)", ha="center", va="center")
    fig.tight_layout()
    fig.savefig(charts / "training_curves.png", dpi=110)
    plt.close(fig)


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
