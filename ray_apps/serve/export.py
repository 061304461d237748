"""The serving export of a trained run: built offline once, loaded by every replica (no Ray here).

    umair export --run RUNS/umair_fps --lake LAKE      (`umair serve` builds it too when missing)

RUN/serving/
  item_side.safetensors   per modality the model projects: `<name>.vectors` [N, W] float16 (every
                          item's frozen vector through its trained projection) and `<name>.present`
                          [N] bool; a replica loads this instead of the raw vectors (W = 64 for
                          UMAIR-FPS's common width, against 384-768 raw dimensions per modality)
  retrieval.npz           popular items, recent bookmarks, seen items (ray_apps.serve.retrieval)
  neighbours.faiss        the approximate-nearest-neighbour index over the neighbour space
  export.json             what it was built from: the model file's time, the lake tables' Delta
                          versions; a mismatch means stale, and the export is rebuilt

The raw vectors are read once here, in one process; replicas never hold them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ray_apps.settings import add_config_file_flag, add_config_flags, config_from_args, setting
from umair_models import storage

FOLDER = "serving"
ITEM_SIDE_FILE, RECORD_FILE = "item_side.safetensors", "export.json"
SOURCE_TABLES = ("interactions_train", "item_features", "items")


def _source(run: Path, lake: str) -> dict:
    """What an export is built from; any change makes it stale."""
    from deltalake import DeltaTable

    from ray_apps.artifacts import ranker_trained_at

    tables = {t: storage.join(lake, t) for t in SOURCE_TABLES}
    return {
        "model_trained_at": ranker_trained_at(run),
        "lake": lake,
        "versions": {t: DeltaTable(p).version() if storage.is_delta_table(p) else -1 for t, p in tables.items()},
    }


def _raw_item_vectors(lake: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The lake's standardized item vectors (name -> [num_items + 1, dim] fp16, present), {} before `embed`."""
    from ray_apps.encoders.item_features import lake_item_vectors, load_item_vectors
    from ray_apps.lake import read_table

    items = lake_item_vectors(lake, read_table(storage.join(lake, "items"), ["item_idx"]).num_rows)
    return load_item_vectors(items) if items else {}


def build(run: Path, lake: str, folder: Path, exact_below: int | None = None) -> dict:
    """Write the export of the run in local folder `run` into `folder`; -> the record (export.json)."""
    from safetensors.torch import save_file

    from ray_apps.artifacts import load_ranker
    from ray_apps.serve.retrieval import EXACT_BELOW, SPACE_MODALITIES, RetrievalIndex, neighbour_space

    started = time.perf_counter()
    source = _source(run, lake)
    model, _, _ = load_ranker(run)
    raw = _raw_item_vectors(lake)
    for name, (v, p) in raw.items():
        model.load_pretrained(name, torch.from_numpy(v), torch.from_numpy(p))
    exported = model.export_item_side()
    del model
    # the neighbour space: the model's projections when it has them, else the raw vectors
    space_from = "export" if any(m in exported for m in SPACE_MODALITIES) else ("raw" if raw else None)
    source_vectors = exported if space_from == "export" else raw
    parts = [np.asarray(source_vectors[m][0], np.float32) for m in SPACE_MODALITIES if m in source_vectors]
    del raw, source_vectors
    index = RetrievalIndex.build(lake, neighbour_space(parts) if parts else None, exact_below or EXACT_BELOW)
    tmp = folder.with_name(f"{folder.name}.{os.getpid()}.building")  # replicas building at once do not collide
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tensors = {f"{n}.vectors": v for n, (v, _) in exported.items()}
    tensors |= {f"{n}.present": p for n, (_, p) in exported.items()}
    save_file({k: t.contiguous() for k, t in tensors.items()}, str(tmp / ITEM_SIDE_FILE))
    index.save(tmp)
    record = {
        **source,
        "item_side": {n: list(v.shape) for n, (v, _) in exported.items()},
        "neighbour_space": space_from,
        "ann": type(index.ann).__name__ if index.ann is not None else None,
        "build_s": round(time.perf_counter() - started, 2),
    }
    (tmp / RECORD_FILE).write_text(json.dumps(record, indent=2))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.replace(folder)  # a replica never reads a half-written export
    return record


def ensure(run: str | Path, lake: str | Path, publish: bool = False) -> Path:
    """The local folder of RUN's serving export (in this node's copy of RUN when it is on object
    storage), built now when missing or stale. `publish` also uploads a new build to RUN/serving, so
    other nodes' replicas find it (the offline `umair export` and `umair serve` do; replicas do not)."""
    run, lake = storage.absolute(run), storage.absolute(lake)
    local = storage.local_copy(run)
    folder = local / FOLDER
    record = folder / RECORD_FILE
    if record.exists():
        built = json.loads(record.read_text())
        if {k: built.get(k) for k in ("model_trained_at", "lake", "versions")} == _source(local, lake):
            return folder
    build(local, lake, folder)
    if publish and storage.is_remote(run):
        storage.upload_dir(folder, storage.join(run, FOLDER))
    return folder


def load_item_side(folder: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """name -> (projected vectors [N, W] float16, present [N] bool), for CTRModel.use_item_side."""
    from safetensors.torch import load_file

    tensors = load_file(str(folder / ITEM_SIDE_FILE))
    names = {k.rsplit(".", 1)[0] for k in tensors}
    return {n: (tensors[f"{n}.vectors"], tensors[f"{n}.present"]) for n in names}


@dataclass(frozen=True)
class ExportOptions:
    run: str = setting(help="a run folder written by `umair train` (a path or a URI)")
    lake: str = setting(help="the lake the run was trained on (item vectors, training interactions)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Build a trained run's serving export (item side + retrieval index).")
    add_config_flags(p, ExportOptions)
    add_config_file_flag(p, "export")
    return p


def main(argv: list[str] | None = None) -> int:
    from ray_apps.console import setup_console

    a = build_parser().parse_args(argv)
    setup_console()
    o = config_from_args(ExportOptions, a, "export")
    folder = ensure(o.run, o.lake, publish=True)
    record = json.loads((folder / RECORD_FILE).read_text())
    widths = ", ".join(f"{n} {s[0]:,} x {s[1]}" for n, s in record["item_side"].items()) or "none (no item vectors)"
    print(
        f"Serving export of {o.run}: item side {widths}; neighbours: {record['ann'] or 'none'} over the "
        f"{record['neighbour_space'] or 'no'} space (built in {record['build_s']} s).\n"
        f"Written to {storage.join(o.run, FOLDER) if storage.is_remote(o.run) else folder}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
