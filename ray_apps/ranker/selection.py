"""The report's `## Picked by validation` section: which configuration of a comparison to deploy, chosen
on the validation split alone.

Every run trained with `--early-stop` tests the weights of its best validation epoch; that epoch's
validation AUC (RUNS/<run>/epochs.json) is the run's score here, and a row of the report (a model, a
variant or a `+MM` control over its seeds) scores the mean over its seeds. The pick is the row with
the highest score. The test split takes no part in the choice; the table shows its AUC beside it so a
reader can see whether validation and test agree.

Why a team wants this: on data where the item vectors carry little (MovieLens 100K with text vectors,
bench/README.md) every model given them tests about 0.002-0.004 below its ID-only self, and
validation says so too; a comparison that trains the ID-only self (`--variants 'w/o ALL'`) then
picks it, so a catalogue's vectors cost nothing at deployment where they do not pay.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

ID_ONLY = "w/o ALL"  # the UMAIR-FPS variant without any item vector: the ID-only self


def best_validation_auc(run: dict) -> float | None:
    """The validation AUC of the epoch whose weights the run tested (its `best_epoch`, else its last
    validated epoch); None for a run trained without validation."""
    path = Path(run["_dir"]) / "epochs.json" if run.get("_dir") else None
    if path is None or not path.exists():
        return None
    epochs = [e for e in json.loads(path.read_text()) if "valid_auc" in e]
    if not epochs:
        return None
    chosen = [e for e in epochs if e["epoch"] == run.get("best_epoch")] or epochs[-1:]
    return float(chosen[0]["valid_auc"])


@dataclass
class Candidate:
    """One row of the report: its label, its runs' validation AUCs (one per seed) and its test AUC cell."""

    label: str
    valid: list[float | None]
    test: str

    @property
    def score(self) -> float | None:
        """Mean validation AUC over the seeds; None when any seed has none."""
        if not self.valid or any(v is None for v in self.valid):
            return None
        return sum(v for v in self.valid if v is not None) / len(self.valid)


class Row(Protocol):
    """A row of the report (ray_apps.ranker.report.Group): a label, its runs' records, a formatted cell."""

    label: str
    runs: list[dict]

    def cell(self, key: str, bold: bool) -> str: ...


def candidates(rows: Iterable[Row]) -> list[Candidate]:
    """The report's rows as candidates: each run's best validation AUC, the row's test AUC cell."""
    return [Candidate(r.label, [best_validation_auc(run) for run in r.runs], r.cell("auc", False)) for r in rows]


def picked_by_validation(candidates: list[Candidate]) -> list[str]:
    """The section's lines; [] when fewer than two rows were trained with validation."""
    scored = [c for c in candidates if c.score is not None]
    if len(scored) < 2:
        return []
    pick = max(scored, key=lambda c: c.score or 0.0)
    lines = [
        "## Picked by validation",
        "",
        "The configuration to deploy, chosen on the validation split alone: the highest validation AUC at each "
        "run's best epoch (the weights its test used), mean over seeds. The test column is shown, not used.",
        "",
        "| Run | Validation AUC | Test AUC |",
        "|---|---|---|",
    ]
    for c in sorted(scored, key=lambda c: -(c.score or 0.0)):
        mark = "**" if c is pick else ""
        lines.append(f"| {c.label} | {mark}{c.score:.4f}{mark} | {c.test} |")
    lines += ["", f"Picked: **{pick.label}**."]
    if pick.label == ID_ONLY:
        lines[-1] += " On this data the item vectors do not pay on validation: deploy the ID-only self."
    return lines
