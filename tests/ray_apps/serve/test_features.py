"""FeatureStore (online features, no Ray) reproduces the preprocessing job's offline inputs."""

from __future__ import annotations

import numpy as np

from ray_apps.lake import read_table
from ray_apps.ranker.data import DatasetConfig, ToArrays
from ray_apps.serve.features import FeatureStore, item_age_buckets


def _store(lake):
    spec = DatasetConfig.for_lake(lake, multimodal=False).spec
    return spec, FeatureStore(
        lake, spec.input_columns(), {f.name: f.max_len for f in spec.of_kind("multi_categorical")}
    )


def test_online_features_equal_offline_rows_for_every_split(tiny_lake):
    lake, _ = tiny_lake
    spec, store = _store(lake)
    for split in ("train", "valid", "test"):
        rows = read_table(lake / f"interactions_{split}").slice(0, 60).to_pandas()
        offline = ToArrays(spec, None)(rows)
        for i, row in enumerate(rows.itertuples()):
            online, known = store.features(row.user_id, [row.illust_id], row.ts.to_pydatetime())
            assert known == [True]
            for name in spec.input_columns():
                np.testing.assert_array_equal(
                    online[name][0], offline[name][i], err_msg=f"{split} row {i} field {name}"
                )


def test_unknown_user_and_item_get_out_of_vocabulary_indices(tiny_lake):
    lake, _ = tiny_lake
    spec, store = _store(lake)
    item = read_table(lake / "interactions_train", ["illust_id"])["illust_id"][0].as_py()  # in the vocabulary
    online, known = store.features("no-such-user", [item, "no-such-illust"])
    assert known == [True, False] and not store.known_user("no-such-user")
    assert all(not online[c].any() for c in store.user_columns)  # user fields: OOV for both rows
    assert all(not online[c][1].any() for c in store.item_columns)  # unknown item: OOV everywhere
    assert online["item_id_idx"][0] > 0 and online["item_age_idx"][1] == 0


def test_age_buckets_are_log2_days_capped_at_12():
    day = 86400
    published = np.array([0, 0, 0, 0, 0, 10 * day], np.int64)
    shown = [0, day - 1, day, 3 * day, 10**6 * day, 0]  # the last: shown before it was published -> d0
    got = [int(item_age_buckets(ts, published[i : i + 1])[0]) for i, ts in enumerate(shown)]
    assert got == [0, 0, 1, 2, 12, 0]
