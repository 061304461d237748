"""ToArrays: the Ray Data transform that turns Delta rows into the model's fixed-shape arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from ray_apps.ranker.data import ToArrays, padded_lists
from umair_models.features import FeatureSpec, FieldSpec

SPEC = FeatureSpec(
    [
        FieldSpec("user_idx", "categorical", vocab_size=10, group="user"),
        FieldSpec("tags", "multi_categorical", vocab_size=50, max_len=3, group="item"),
        FieldSpec("price", "numeric"),
    ],
    "label",
)


def _reference_padding(lists, max_len: int) -> np.ndarray:
    out = np.zeros((len(lists), max_len), np.int64)
    for i, row in enumerate(lists):
        row = (row or [])[:max_len]
        out[i, : len(row)] = row
    return out


def test_padded_lists_cuts_pads_and_treats_null_as_empty():
    lists = [[1, 2, 3, 4, 5], [], None, [7], [8, 9], [10, 11, 12]]
    got = padded_lists(pa.array(lists, pa.list_(pa.int32())), 3)
    np.testing.assert_array_equal(got, _reference_padding(lists, 3))


def test_padded_lists_on_a_sliced_chunked_column():
    rng = np.random.default_rng(0)
    lists = [list(rng.integers(1, 50, rng.integers(0, 6))) for _ in range(200)]
    chunked = pa.chunked_array([pa.array(lists[:70]), pa.array(lists[70:])]).slice(13, 150)  # offsets not starting at 0
    np.testing.assert_array_equal(padded_lists(chunked, 4), _reference_padding(lists[13:163], 4))


def test_arrow_and_pandas_batches_give_the_same_arrays():
    df = pd.DataFrame(
        {
            "user_idx": [1, 2, 3],
            "tags": [[1, 2, 3, 4], [], [5]],
            "price": [0.5, 1.5, 2.0],
            "label": [1, 0, 1],
            "user_id": [11, 11, 12],
        }
    )
    from_pandas = ToArrays(SPEC, "user_id")(df)
    from_arrow = ToArrays(SPEC, "user_id")(pa.Table.from_pandas(df, preserve_index=False))
    assert set(from_pandas) == {"user_idx", "tags", "price", "label", "gauc_key"}
    for name in from_pandas:
        np.testing.assert_array_equal(from_pandas[name], from_arrow[name])
    assert from_arrow["tags"].tolist() == [[1, 2, 3], [0, 0, 0], [5, 0, 0]]
    assert from_arrow["label"].dtype == np.float32 and from_arrow["price"].dtype == np.float32
    keys = from_arrow["gauc_key"]
    assert keys[0] == keys[1] != keys[2]


def test_string_user_ids_group_by_value():
    df = pd.DataFrame(
        {
            "user_idx": [1, 2, 3],
            "tags": [[1], [2], [3]],
            "price": [0.0, 0.0, 0.0],
            "label": [0, 1, 0],
            "user_id": ["a", "b", "a"],
        }
    )
    keys = ToArrays(SPEC, "user_id")(df)["gauc_key"]
    assert keys[0] == keys[2] != keys[1]


def test_an_index_newer_than_the_model_reads_as_unknown():
    # the lake's vocabulary grew after the model was trained (umair ingest): user 10 and tag 60 have no row
    table = pa.table(
        {
            "user_idx": pa.array([9, 10, 3], pa.int64()),
            "tags": pa.array([[1, 60], [49, 50, 2], []], pa.list_(pa.int32())),
            "price": [0.5, 1.5, 2.0],
            "label": [1, 0, 1],
        }
    )
    arrays = ToArrays(SPEC, None)(table)
    assert arrays["user_idx"].tolist() == [9, 0, 3]
    assert arrays["tags"].tolist() == [[1, 0, 0], [49, 0, 2], [0, 0, 0]]
