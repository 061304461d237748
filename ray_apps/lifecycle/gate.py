"""The promotion gate: a challenger run against the serving champion on the same test rows.

    umair gate --champion RUNS/a --challenger RUNS/b --lake LAKE [--split test] [--tolerance 0.002]

Both runs score every row of the lake's split in this process (the same rows, in the same order), and
a paired bootstrap over the rows (each round draws the same rows for both) gives a confidence
interval for the challenger's AUC minus the champion's and for its log loss minus the champion's.
The challenger is promoted only when it is not worse beyond the tolerance with 95% confidence: the
interval's lower AUC bound >= -tolerance and its upper log-loss bound <= +tolerance (a
non-inferiority test; a challenger within the noise of an equal model passes, one trained on a broken
day does not). The decision, its figures and its reason go to CHALLENGER/gate.json, the console and
the registry (tags umair.gate* on the challenger's model version, record/gate.json on its MLflow run).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ray_apps.artifacts import UnsafeArtifactError, load_ranker, write_json
from ray_apps.console import log, setup_console
from ray_apps.lifecycle import registry
from umair_models import storage
from umair_models.config_files import ConfigError
from umair_models.metrics import auc, log_loss

SCORE_BATCH = 8192
DEFAULT_TOLERANCE = 0.002  # how much worse (AUC, log loss) a challenger may be: gate, cycle and bench share it


def score_run(run_dir: str | Path, lake: str | Path, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """(click probabilities [n] float64, labels [n] float64) of the run's model on every row of the
    lake's split, in the table's row order."""
    from ray_apps.encoders.item_features import load_item_vectors
    from ray_apps.lake import read_table
    from ray_apps.ranker.data import DatasetConfig, ToArrays

    model, spec, _ = load_ranker(run_dir)
    dataset = DatasetConfig.for_lake(lake)
    if model.lookups and dataset.item_features is not None:
        for name, (vectors, present) in load_item_vectors(dataset.item_features).items():
            model.load_pretrained(name, torch.from_numpy(vectors), torch.from_numpy(present))
    columns = [*spec.input_columns(), spec.label]
    table = read_table(dataset.tables[split], [c for c in dict.fromkeys(columns)])
    probs, labels = [], []
    with torch.inference_mode():
        for start in range(0, table.num_rows, SCORE_BATCH):
            arrays = ToArrays(spec, None)(table.slice(start, SCORE_BATCH))
            # Arrow's zero-copy arrays are read-only, which torch.from_numpy warns about: copy only those
            inputs = {
                k: torch.from_numpy(np.require(v, requirements="W"))
                for k, v in arrays.items()
                if k in spec.input_columns()
            }
            probs.append(torch.sigmoid(model(inputs)).double().numpy())
            labels.append(arrays["label"].astype(np.float64))
    return np.concatenate(probs), np.concatenate(labels)


def paired_bootstrap(
    labels: np.ndarray, champion: np.ndarray, challenger: np.ndarray, rounds: int = 500, seed: int = 0
) -> dict[str, dict[str, float]]:
    """{"auc" | "logloss": {"champion", "challenger", "diff" (challenger - champion), "low", "high"}}:
    the 95% interval of the difference over `rounds` resamples of the rows, the same rows for both."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    diffs: dict[str, list[float]] = {"auc": [], "logloss": []}
    for _ in range(rounds):
        rows = rng.integers(0, n, n)
        y = labels[rows]
        if y.min() == y.max():
            continue  # a resample with one class has no AUC
        diffs["auc"].append(auc(challenger[rows], y) - auc(champion[rows], y))
        diffs["logloss"].append(log_loss(challenger[rows], y) - log_loss(champion[rows], y))
    point = {
        "auc": (auc(champion, labels), auc(challenger, labels)),
        "logloss": (log_loss(champion, labels), log_loss(challenger, labels)),
    }
    return {
        k: {
            "champion": point[k][0],
            "challenger": point[k][1],
            "diff": point[k][1] - point[k][0],
            "low": float(np.percentile(diffs[k], 2.5)),
            "high": float(np.percentile(diffs[k], 97.5)),
        }
        for k in diffs
    }


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    tolerance: float
    rows: int
    auc: dict[str, float]
    logloss: dict[str, float]
    resolution: float = 0.0  # half the width of the AUC interval: what these test rows can tell apart


def decide(stats: dict[str, dict[str, float]], tolerance: float, rows: int) -> Decision:
    """Promote when the challenger is not worse than the champion beyond `tolerance` (AUC and log loss)
    with 95% confidence; the reason names the figure that decided. A rejection on test rows too few to
    resolve the tolerance says so: an equal challenger fails when the interval's half-width exceeds it."""
    a, b = stats["auc"], stats["logloss"]
    resolution = (a["high"] - a["low"]) / 2
    coarse = (
        f"; these {rows:,} test rows resolve AUC to about ±{resolution:.4f} only, wider than the tolerance, "
        f"so even a challenger as good as the champion fails (a tolerance of at least {resolution:.3f} or "
        "more test rows lets an equal one pass; bench/README.md, the daily cycle)"
        if resolution > tolerance
        else ""
    )
    if a["low"] < -tolerance:
        reason = (
            f"AUC may be worse by more than {tolerance}: {a['diff']:+.4f} (95% CI {a['low']:+.4f} .. {a['high']:+.4f})"
        )
        return Decision(False, reason + coarse, tolerance, rows, a, b, resolution)
    if b["high"] > tolerance:
        reason = f"log loss may be worse by more than {tolerance}: {b['diff']:+.4f} (95% CI {b['low']:+.4f} .. {b['high']:+.4f})"
        return Decision(False, reason + coarse, tolerance, rows, a, b, resolution)
    reason = f"not worse beyond {tolerance}: AUC {a['diff']:+.4f} (95% CI {a['low']:+.4f} .. {a['high']:+.4f}), log loss {b['diff']:+.4f}"
    return Decision(True, reason, tolerance, rows, a, b, resolution)


def gate(
    champion: str, challenger: str, lake: str, split: str = "test", tolerance: float = DEFAULT_TOLERANCE
) -> Decision:
    """Score both runs on the split, decide, and write CHALLENGER/gate.json."""
    old, labels = score_run(champion, lake, split)
    new, same = score_run(challenger, lake, split)
    if not np.array_equal(labels, same):
        raise ValueError("the two runs were scored on different rows")  # the same table read twice
    decision = decide(paired_bootstrap(labels, old, new), tolerance, len(labels))
    record = {"champion": storage.absolute(champion), "split": split, **asdict(decision)}
    write_json(storage.join(challenger, "gate.json"), record)
    _record_in_registry(challenger, record)
    return decision


def _record_in_registry(challenger: str, record: dict) -> None:
    """The decision on the challenger's registered version (tags) and its MLflow run (record/gate.json)."""
    tags = {
        "umair.gate": "promote" if record["promote"] else "reject",
        "umair.gate_reason": record["reason"],
        "umair.gate_champion": record["champion"],
    }
    try:
        registry.tag_version(challenger, tags, ("gate.json", record))
    except registry.RegistryError as e:
        log.warning("gate decision not recorded in the registry: %s", e)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Compare a challenger run with the champion on the same test rows.")
    p.add_argument("--champion", required=True, help="the serving run's folder")
    p.add_argument("--challenger", required=True, help="the candidate run's folder")
    p.add_argument("--lake", required=True, help="the lake whose split both runs are scored on")
    p.add_argument("--split", default="test", choices=("train", "valid", "test"))
    p.add_argument(
        "--tolerance", type=float, default=DEFAULT_TOLERANCE, help="how much worse (AUC, log loss) still passes"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    setup_console(announce=False)
    try:
        d = gate(a.champion, a.challenger, a.lake, a.split, a.tolerance)
    except (UnsafeArtifactError, ConfigError, FileNotFoundError) as e:  # a run without weights, a lake without a spec
        print(f"gate: cannot score both runs, nothing decided or recorded: {e}")
        return 2
    verdict = "PROMOTE" if d.promote else "REJECT"
    print(f"gate: {verdict} {a.challenger} over {a.champion} on {d.rows:,} {a.split} rows: {d.reason}")
    print(f"gate: decision -> {storage.join(a.challenger, 'gate.json')}")
    return 0 if d.promote else 3


if __name__ == "__main__":
    raise SystemExit(main())
