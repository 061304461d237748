"""The serving export of a trained run (RUN/serving/): what a replica loads instead of raw item vectors."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ray_apps.serve import export
from ray_apps.serve.served_run import ServedRun
from tests.ray_apps.serve.test_app import offline_scores, some_test_rows


@pytest.fixture
def umair_run(tiny_runs, tmp_path) -> Path:
    runs, records = tiny_runs
    copy = tmp_path / "umair_fps"
    shutil.copytree(Path(runs, records["umair_fps"]["run"]), copy, ignore=shutil.ignore_patterns("serving*"))
    return copy


def test_the_replica_serves_projected_item_vectors_and_scores_as_the_trained_model(umair_run, tiny_lake):
    lake, _ = tiny_lake
    served = ServedRun.load(str(umair_run), str(lake))
    record = json.loads((umair_run / export.FOLDER / export.RECORD_FILE).read_text())
    width = served.model.config.modality_dim
    modalities = [m for m in served.model.modalities if m != "meta"]
    assert record["item_side"] and all(shape[1] == width for shape in record["item_side"].values())
    assert sorted(record["item_side"]) == sorted(modalities)
    # the replica's tables are the projected width in float16: the raw vectors (384+ dims) are not there
    assert {n: (t.vectors.dtype, t.vectors.shape[1]) for n, t in served.model.lookups.items()} == {
        m: (torch.float16, width) for m in modalities
    }
    assert record["neighbour_space"] == "export" and record["ann"] == "IndexFlatIP"  # tiny catalogue: exact
    rows = some_test_rows(lake, 12)
    got = [float(served.score(served.store.features(r.user_id, [r.illust_id], r.ts)[0])[0]) for r in rows.itertuples()]
    # float16 storage of the projected rows is the only difference from the trained model (measured: 1.4e-5)
    assert got == pytest.approx(offline_scores(umair_run, lake, rows), abs=2e-4)


def test_an_export_is_built_once_and_rebuilt_when_the_model_changes(umair_run, tiny_lake):
    lake, _ = tiny_lake
    folder = export.ensure(umair_run, lake)
    built = (folder / export.RECORD_FILE).stat().st_mtime_ns
    assert export.ensure(umair_run, lake) == folder and (folder / export.RECORD_FILE).stat().st_mtime_ns == built
    later = (umair_run / "model.safetensors").stat().st_mtime + 60
    os.utime(umair_run / "model.safetensors", (later, later))  # a retrained model
    export.ensure(umair_run, lake)
    assert (folder / export.RECORD_FILE).stat().st_mtime_ns != built
    assert json.loads((folder / export.RECORD_FILE).read_text())["model_trained_at"] == pytest.approx(later, abs=1e-3)


def test_a_model_without_item_vectors_gets_neighbours_from_the_raw_vectors(tiny_runs, tiny_lake, tmp_path):
    runs, records = tiny_runs
    lake, _ = tiny_lake
    run = tmp_path / "dcn_v2"
    shutil.copytree(Path(runs, records["dcn_v2"]["run"]), run, ignore=shutil.ignore_patterns("serving*"))
    served = ServedRun.load(str(run), str(lake))
    record = json.loads((run / export.FOLDER / export.RECORD_FILE).read_text())
    assert record["item_side"] == {} and record["neighbour_space"] == "raw"
    user = next(iter(served.retrieval.users))
    seen = served.retrieval._row(served.retrieval.seen_offsets, served.retrieval.seen_values, user)
    candidates = served.retrieval.candidates(user)
    assert candidates and not set(candidates) & set(seen.tolist())
    assert set(served.retrieval.candidates(user, exclude_seen=False)) >= set(np.intersect1d(candidates, seen))
    assert len(served.retrieval.candidates(user)) > len(served.retrieval.popular) - len(seen)  # neighbours added
