"""Warm start: a new model begins from a trained run's weights.

Incremental ingest never renumbers a vocabulary: a value keeps its index and new values get the next
ones. So warm starting copies each field's old rows into the fresh (randomly initialised) tables at
the same indices; rows of values new since the old run keep their fresh initialisation. Categorical
fields share one fused table (umair_models.layers.embedding.FeatureEmbedding: each field's rows at an
offset), so when a field grows the fields after it move down: the fused tables are copied field by
field, per-field tables (multi-valued fields) as a prefix. Any other difference (another model, variant or model setting; a
tensor that shrank or changed width) means the old weights do not describe the new model, and the
start is refused before training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from umair_models.features import FeatureSpec


class WarmStartError(ValueError):
    """The trained run cannot start this model; the message says what differs."""


@dataclass(frozen=True)
class WarmStartReport:
    copied: int  # tensors copied whole
    grown: int  # tensors (embedding tables) whose old rows were copied into a larger fresh table
    new_rows: int  # rows across the grown tables that start fresh


def check_same_model(
    record: dict[str, Any],
    model_name: str,
    variant: str | None,
    config: dict[str, Any],
    defaults: dict[str, Any] | None = None,
) -> None:
    """record: the old run's model.json; the rest: the new run's. WarmStartError naming each difference.

    `defaults`: the model config's defaults. A setting newer than the old run (absent from its record)
    is read at its default, which is how every model behaved before that setting existed; so a run
    trained before an upgrade still starts today's model unless the new setting is changed."""
    trained, trained_variant = record.get("model_name"), record.get("variant")
    if trained != model_name or trained_variant != variant:
        raise WarmStartError(
            f"the run trained {trained} {trained_variant or ''}; this run is {model_name} {variant or ''}"
        )
    before: dict[str, Any] = {**(defaults or {}), **(record.get("config") or {})}
    differs = sorted(k for k in set(config) | set(before) if config.get(k) != before.get(k))
    if differs:
        shown = ", ".join(f"{k}: {before.get(k)!r} -> {config.get(k)!r}" for k in differs)
        raise WarmStartError(f"the model settings differ from the run's ({shown})")


def fused_sizes(spec: FeatureSpec) -> list[int]:
    """Rows of each categorical field in the fused tables, in their order (FeatureEmbedding's layout)."""
    return [f.vocab_size for f in spec.sparse if f.kind == "categorical"]


def check_fields(old: FeatureSpec, new: FeatureSpec) -> None:
    """The same fields in the same order, each vocabulary the same size or larger (never renumbered)."""
    before, after = [(f.name, f.kind) for f in old.fields], [(f.name, f.kind) for f in new.fields]
    if before != after:
        raise WarmStartError(f"the run's fields differ: {before} -> {after}")
    shrank = [
        f"{a.name} {a.vocab_size} -> {b.vocab_size}"
        for a, b in zip(old.fields, new.fields)
        if b.vocab_size < a.vocab_size
    ]
    if shrank:
        raise WarmStartError(f"vocabularies shrank ({', '.join(shrank)}): the lake was rebuilt, not extended")


def _copy_fused(before: torch.Tensor, now: torch.Tensor, old_sizes: list[int], new_sizes: list[int]) -> torch.Tensor:
    """Each field's old rows to the field's new offset; rows beyond them keep `now`'s values."""
    table = now.clone()
    src = dst = 0
    for old_rows, new_rows in zip(old_sizes, new_sizes):
        table[dst : dst + old_rows] = before[src : src + old_rows].to(now.dtype)
        src, dst = src + old_rows, dst + new_rows
    return table


def grow_state(
    old: dict[str, torch.Tensor], fresh: dict[str, torch.Tensor], old_spec: FeatureSpec, new_spec: FeatureSpec
) -> tuple[dict[str, torch.Tensor], WarmStartReport]:
    """The state to load into a fresh model: `old` (a trained run's, on `old_spec`) where it fits, `fresh`
    rows for values new in `new_spec`.

    old, fresh: name -> tensor. A tensor of the same shape is copied (a 0-dim one too: batch-norm counts). A fused table [sum of categorical
    vocabularies, D] is copied field by field to the new offsets; another table whose first dimension
    grew ([vocab, D] of one multi-valued field) gets the old rows [:old_rows]. WarmStartError for other
    fields, a missing or extra name, or any other shape change.
    """
    check_fields(old_spec, new_spec)
    old_sizes, new_sizes = fused_sizes(old_spec), fused_sizes(new_spec)
    missing, extra = sorted(set(fresh) - set(old)), sorted(set(old) - set(fresh))
    if missing or extra:
        raise WarmStartError(f"the run's weights do not match this model: new {missing[:5]}, gone {extra[:5]}")
    merged: dict[str, torch.Tensor] = {}
    copied = grown = new_rows = 0
    for name, now in fresh.items():
        before = old[name]
        if before.shape == now.shape and (
            old_sizes == new_sizes or before.dim() == 0 or before.shape[0] != sum(old_sizes)
        ):
            merged[name], copied = before.to(now.dtype).clone(), copied + 1
        elif before.dim() == now.dim() >= 1 and (before.shape[0], now.shape[0]) == (sum(old_sizes), sum(new_sizes)):
            merged[name] = _copy_fused(before, now, old_sizes, new_sizes)
            grown, new_rows = grown + 1, new_rows + now.shape[0] - before.shape[0]
        elif before.dim() == now.dim() >= 1 and before.shape[1:] == now.shape[1:] and before.shape[0] < now.shape[0]:
            table = now.clone()
            table[: before.shape[0]] = before.to(now.dtype)
            merged[name], grown, new_rows = table, grown + 1, new_rows + now.shape[0] - before.shape[0]
        else:
            raise WarmStartError(
                f"{name}: the run's tensor is {tuple(before.shape)}, this model's {tuple(now.shape)} "
                "(only a vocabulary that grew can be warm-started: rows are never renumbered)"
            )
    return merged, WarmStartReport(copied, grown, new_rows)
