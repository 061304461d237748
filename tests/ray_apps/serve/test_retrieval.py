"""The approximate nearest-neighbour index of /v1/recommend against exact search (faiss, no Ray)."""

from __future__ import annotations

import numpy as np

from ray_apps.serve.retrieval import build_ann, load_ann, neighbour_space, recall_at, save_ann


def _catalogue(n: int, seed: int = 0) -> np.ndarray:
    """A clustered test catalogue as the neighbour space sees one: two modalities (64 dims each) of
    items drawn around 200 styles / subjects, as the sample site's items are."""
    rng = np.random.default_rng(seed)
    parts = []
    for d in (64, 64):
        centres = rng.normal(size=(200, d))
        parts.append(centres[rng.integers(0, 200, n)] + 0.8 * rng.normal(size=(n, d)))
    return neighbour_space(parts)


def test_ann_recall_at_100_against_exact_search_is_at_least_095(tmp_path):
    space = _catalogue(40_000)
    ann = build_ann(space, exact_below=0)  # force the approximate index
    exact = build_ann(space, exact_below=len(space) + 1)
    assert type(ann).__name__ == "IndexHNSWSQ" and type(exact).__name__ == "IndexFlatIP"
    rng = np.random.default_rng(1)
    # queries as the endpoint makes them: the mean of a few items a user bookmarked
    queries = np.stack([space[rng.integers(1, len(space), 5)].mean(0) for _ in range(200)])
    save_ann(ann, tmp_path / "ann.faiss")  # as a replica gets it: written offline, read back
    ann = load_ann(tmp_path / "ann.faiss")
    recall = recall_at(ann, exact, queries, 100)
    assert recall >= 0.95, recall
    # and its rows are compressed: one byte per dimension per item (the exact index keeps 4)
    assert ann.storage.sa_code_size() == space.shape[1] and exact.sa_code_size() == 4 * space.shape[1]


def test_exact_index_finds_each_items_own_row_first():
    space = _catalogue(2_000)
    exact = build_ann(space)
    ids = exact.search(space[[3, 70, 1999]], 1)[1][:, 0]
    assert ids.tolist() == [3, 70, 1999]
    assert np.allclose(exact.reconstruct(70), space[70])
