"""Pretext classes from a user's catalogue: the text values imaged items share, most shared first."""

from __future__ import annotations

import pyarrow as pa
import pytest

from ray_apps.encoders.catalogue_pretext import NothingToLearnError, catalogue_pretext


def _items(rows: list[tuple[int, str | None, list[str] | None]]) -> pa.Table:
    idx, uri, tags = zip(*rows, strict=True)
    return pa.table(
        {"item_idx": pa.array(idx, pa.int64()), "image_uri": pa.array(uri, pa.string()), "tags": pa.array(tags)}
    )


def test_shared_values_of_imaged_items_become_classes_and_rare_ones_drop_out():
    items = _items(
        [
            (1, "/p/1.png", ["Title 1", "Drama", "Comedy"]),
            (2, "/p/2.png", ["Title 2", "Drama"]),
            (3, "/p/3.png", ["Title 3", "Comedy", "Drama", "Drama"]),
            (4, None, ["Title 4", "Horror", "Drama"]),  # no image: neither an example nor counted
            (5, "/p/5.png", ["Title 5", "Horror"]),  # Horror on one imaged item only: no class, no example
            (6, "/p/6.png", None),
        ]
    )
    examples, names = catalogue_pretext(items, min_items=2, max_labels=10)
    assert names == ["Drama", "Comedy"]  # Drama on 3 imaged items, Comedy on 2; titles on 1 each
    assert examples.column("item_idx").to_pylist() == [1, 2, 3]
    assert examples.column("image_uri").to_pylist() == ["/p/1.png", "/p/2.png", "/p/3.png"]
    assert [sorted(x) for x in examples.column("label_idx").to_pylist()] == [[1, 2], [1], [1, 2]]
    capped, top = catalogue_pretext(items, min_items=1, max_labels=2)
    assert top == ["Drama", "Comedy"] and capped.num_rows == 3


def test_a_catalogue_without_shared_values_or_images_is_refused_with_its_counts():
    unique = _items([(i, f"/p/{i}.png", [f"Title {i}"]) for i in range(1, 6)])
    with pytest.raises(NothingToLearnError, match=r"5 of 5 items have an image path, and 0 text values"):
        catalogue_pretext(unique, min_items=2, max_labels=10)
    no_images = _items([(i, None, ["Drama", "Comedy"]) for i in range(1, 6)])
    with pytest.raises(NothingToLearnError, match=r"0 of 5 items have an image path"):
        catalogue_pretext(no_images, min_items=2, max_labels=10)
    with pytest.raises(NothingToLearnError, match=r"no \['tags'\]"):
        catalogue_pretext(no_images.drop_columns(["tags"]), min_items=2, max_labels=10)
