"""The references a comparison report measures its runs against on a sample site, and its section
"## Where the AUC goes": the oracle AUC (the generator's true probabilities), the learnable ceiling
(ray_apps.ranker.ceiling: a well-specified model given each item's true attributes) and the linear
probes of the item vectors (ray_apps.ranker.probes). The ceiling and the probes are cached in RUNS,
keyed by what they were computed from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MODALITY_NAMES = {"e_sty": "e_STY (style)", "e_sem": "e_SEM (image semantics)", "e_tsem": "e_TSEM (tag text)"}


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


def _cached(path: Path, key: dict, compute: Any) -> Any:
    """compute() once per key: RUNS/<name>.json holds {"key", "value"}."""
    if path.exists():
        saved = json.loads(path.read_text())
        if saved.get("key") == key:
            return saved["value"]
    value = compute()
    path.write_text(json.dumps({"key": key, "value": value}, indent=1))
    return value


def cached_ceiling(runs: Path, raw: str | Path, facts: Any) -> dict | None:
    """The learnable ceiling for this raw zone and split, cached in RUNS/ceiling.json."""
    from ray_apps.ranker.ceiling import learnable_ceiling

    periods = [facts.train_start, facts.valid_start, facts.test_start, facts.test_end]
    key = {"raw": str(Path(raw).resolve()), "periods": periods}
    return _cached(runs / "ceiling.json", key, lambda: learnable_ceiling(raw, *periods))


def cached_probes(runs: Path, raw: str | Path, lake: str) -> dict | None:
    """The item vectors' probes (probes.lake_probes), cached in RUNS/probes.json per item_features version."""
    from ray_apps.encoders.item_features import TABLE
    from ray_apps.ranker.probes import lake_probes
    from umair_models import storage

    table = storage.join(lake, TABLE)
    if not storage.is_delta_table(table):
        return None
    from deltalake import DeltaTable

    key = {
        "raw": str(Path(raw).resolve()),
        "item_features": table,
        "version": DeltaTable(table).version(),
        "readings": ["accuracy", "code_r2"],  # what each probe reports: a cache without the code reading is stale
    }
    return _cached(runs / "probes.json", key, lambda: lake_probes(lake, raw))


def where_auc_goes(
    best: tuple[str, float, float | None] | None,
    ceiling: float | None,
    oracle: float | None,
    probes: dict | None,
    with_oracle_vectors: list[tuple[str, float, float | None]] | None = None,
) -> list[str]:
    """The report section. `best`: (label, mean test AUC, the same model's AUC on oracle vectors or None)
    of the best run given the item vectors; `with_oracle_vectors`: such triples for every model that was
    also trained on the oracle vectors (the split of the lost AUC into an encoder and a ranker part)."""
    lines = ["## Where the AUC goes", ""]
    if best is not None and ceiling is not None:
        label, value, _ = best
        lines += [
            f"The best run given the item vectors, {label}, reaches {value:.4f}; the learnable ceiling "
            f"(the same training period, each item's true style, subject and series given) {ceiling:.4f}"
            + (f"; the oracle (true probabilities) {oracle:.4f}" if oracle is not None else "")
            + f". Lost to the ceiling: {ceiling - value:.4f} AUC, {(ceiling - value) / max(ceiling - 0.5, 1e-9):.0%} "
            "of the learnable lift.",
            "",
        ]
        if with_oracle_vectors:
            lines += [
                "The same ranker on the learned vectors and on oracle vectors (each item's true attributes "
                "one-hot, a control): the encoder part of the loss is oracle vectors - learned vectors, the "
                "ranker part ceiling - oracle vectors.",
                "",
                "| Ranker | learned vectors | oracle vectors | encoder part | ranker part |",
                "|---|---|---|---|---|",
            ]
            for name, learned, perfect in with_oracle_vectors:
                if perfect is None:
                    continue
                lines.append(
                    f"| {name} | {learned:.4f} | {perfect:.4f} | {perfect - learned:+.4f} | {ceiling - perfect:+.4f} |"
                )
            lines.append("")
        else:
            lines += [
                "(`umair compare --raw RAW --oracle-vectors umair_fps,dcn_v2` splits it into an encoder "
                "and a ranker part.)",
                "",
            ]
    if probes:
        lines += [
            "Linear probes of the item vectors (held-out items, one in five): accuracy, in brackets the rate "
            "of the most common class (what a probe that learned nothing gets), then R^2 of the class's one-hot "
            "code read back from the vectors' first 16 whitened principal components (1: each class at a point "
            "of its own, as oracle vectors; accuracy saturates long before it).",
            "",
            "| Item vectors | style | subject | series | held-out items |",
            "|---|---|---|---|---|",
        ]
        for name, found in probes.items():
            cells = [_probe_cell(found[a]) for a in ("style", "subject", "series")]
            lines.append(f"| {MODALITY_NAMES.get(name, name)} | {' | '.join(cells)} | {found['style']['items']} |")
        lines.append("")
    if len(lines) == 2:
        lines += ["Needs the sample site's raw zone (`--raw`) and the lake's item_features.", ""]
    return lines


def _probe_cell(found: dict) -> str:
    """'accuracy (majority), R^2 code_r2' of one probe."""
    return f"{found['accuracy']:.3f} ({found['majority']:.3f}), R^2 {found['code_r2']:.2f}"
