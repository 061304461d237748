"""IdIndex: batched string id -> row lookups equal a dict's, collisions included."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from ray_apps.serve.id_index import IdIndex


def _ids(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    alphabet = list("abcxyz0189_-") + ["é", "漢", "🎨"]
    return list(dict.fromkeys("".join(rng.choice(alphabet, rng.integers(1, 12))) for _ in range(n)))


@pytest.mark.parametrize(
    "hash_fn",
    [
        None,
        lambda values: np.zeros(len(values), np.uint64),
        lambda values: np.array([len(v) % 3 for v in values], np.uint64),
    ],
    ids=["pandas-hash", "every-id-collides", "three-buckets"],
)
def test_rows_equal_a_dict_of_the_ids(hash_fn):
    ids = _ids(3_000)
    index = IdIndex(pa.chunked_array([ids[:1_000], ids[1_000:]]), **({"hash_fn": hash_fn} if hash_fn else {}))
    expected = {u: i + 1 for i, u in enumerate(ids)}
    rng = np.random.default_rng(1)
    keys = [ids[i] for i in rng.integers(0, len(ids), 500)] + ["", "not-an-id", ids[0] + "x", ids[5].upper()]
    keys += keys[:10]  # repeats within a request
    assert index.rows(keys).tolist() == [expected.get(k, 0) for k in keys]
    assert len(index) == len(ids) and index.contains(ids[-1]) and not index.contains("not-an-id")


def test_empty_requests_and_an_empty_catalogue():
    assert IdIndex(pa.array(["a", "b"])).rows([]).tolist() == []
    assert IdIndex(pa.array([], pa.string())).rows(["a"]).tolist() == [0]
