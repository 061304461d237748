"""Reading item vectors back at the paper's catalogue size: blobs decoded from Arrow buffers and the
z-score taken a slice at a time give what the row-by-row, whole-table computation gives."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from ray_apps.encoders import item_features as itf


def test_blobs_decode_from_arrow_buffers_as_row_by_row():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(9, 5)).astype(np.float16)
    blobs = [None if i in (0, 4, 5) else b for i, b in enumerate(itf.to_blob(vectors))]
    whole = pa.array(blobs, pa.binary())
    column = pa.chunked_array([whole.slice(0, 3), whole.slice(3, 4), whole.slice(7)])  # sliced chunks: offsets
    for typed in (column, column.cast(pa.large_binary()), column.cast(pa.binary_view())):
        decoded, has = itf.blob_column(typed, 5)
        assert np.array_equal(decoded, itf.from_blobs(blobs, 5))
        assert has.tolist() == [b is not None for b in blobs]
    with pytest.raises(ValueError, match="6 bytes where 5 float16"):
        itf.blob_column(pa.chunked_array([pa.array([b"x" * 10, b"y" * 6])]), 5)


def test_standardize_in_slices_equals_the_whole_table_z_score(monkeypatch):
    rng = np.random.default_rng(1)
    vectors = (rng.normal(3.0, 2.0, size=(1000, 7)) * rng.uniform(0.1, 5, 7)).astype(np.float16)
    present = rng.random(1000) < 0.8
    v = vectors.astype(np.float32)
    reference = ((v - v[present].mean(0)) / (v[present].std(0) + 1e-6)).astype(np.float16)
    reference[~present] = 0
    monkeypatch.setattr(itf, "ROWS_PER_STEP", 64)  # 16 slices
    got = itf.standardize(vectors.copy(), present)
    assert got.dtype == np.float16 and (got[~present] == 0).all()
    assert np.abs(got.astype(np.float32) - reference.astype(np.float32)).max() <= 2e-3
    assert abs(got[present].astype(np.float64).mean()) < 1e-3 and abs(got[present].astype(np.float64).std() - 1) < 1e-3
