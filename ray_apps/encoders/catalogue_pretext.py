"""The image encoder's pretext labels from a user's own catalogue (a lake written by `featurize`).

Our lake's `prep` writes `pretext_image_labels` (each illustration's most frequent tags). A user's
lake has no such table, but its `items` table (featurize's `item_content`) carries each item's text
values as a list (`tags`: titles, genres, any text field named there). The values that at least
`min_items` items with an image share are the classes (most shared first, at most `max_labels`);
each item with an image and at least one class is a pretext example. Values too rare to generalise
(a title, an id) drop out by the count. Nothing here imports Spark or Ray.
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc


class NothingToLearnError(ValueError):
    """A catalogue without the images or the shared labels an image pretext task needs."""


def catalogue_pretext(items: pa.Table, min_items: int, max_labels: int) -> tuple[pa.Table, list[str]]:
    """items (item_idx, image_uri, tags list<string>) -> (examples, class names).

    examples: item_idx int64, image_uri string, label_idx list<int64> (class indices 1..C, as the
    lake's pretext table has them); class c (1-based) is names[c - 1]. Items without an image path or
    without a kept label are left out. Raises NothingToLearnError naming the counts when fewer than two
    classes or no examples remain."""
    missing = {"item_idx", "image_uri", "tags"} - set(items.column_names)
    if missing:
        raise NothingToLearnError(f"the items table has no {sorted(missing)} (write it with featurize's item_content)")
    with_image = items.filter(pc.invert(pc.is_null(items["image_uri"])))
    tags = [sorted(set(t or ())) for t in with_image["tags"].to_pylist()]
    counts = Counter(value for item_tags in tags for value in item_tags)
    kept = [v for v, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= min_items][:max_labels]
    index = {v: i + 1 for i, v in enumerate(kept)}
    labels = [[index[v] for v in item_tags if v in index] for item_tags in tags]
    keep = [i for i, item_labels in enumerate(labels) if item_labels]
    if len(kept) < 2 or not keep:
        raise NothingToLearnError(
            f"the catalogue has nothing for the image encoder to learn from: {with_image.num_rows} of "
            f"{items.num_rows} items have an image path, and {len(kept)} text values (item_content.text) are "
            f"shared by at least {min_items} of them (at least 2 are needed as pretext classes); give "
            "item_content.text a categorical field (genres, categories) or lower --pretext-min-items"
        )
    examples = pa.table(
        {
            "item_idx": pa.array(with_image["item_idx"].to_numpy()[keep], pa.int64()),
            "image_uri": with_image["image_uri"].take(keep),
            "label_idx": pa.array([labels[i] for i in keep], pa.list_(pa.int64())),
        }
    )
    return examples, kept
