"""The sample site: raw contract, distinguishable styles, oracle signal, stated dirt, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest
from PIL import Image

from spark_jobs import schema
from spark_jobs.generate_site import auc, generate
from spark_jobs.site import world


def _read(raw: Path, name: str):
    return ds.dataset(raw / name, format="parquet").to_table()


@pytest.mark.parametrize("name", sorted(schema.RAW) + sorted(schema.ORACLE))
def test_every_dataset_has_the_contract_schema(tiny_site, name):
    raw, _ = tiny_site
    expected = {**schema.RAW, **schema.ORACLE}[name]
    assert _read(raw, name).schema.equals(expected), name


def test_counts_and_sizes_match_the_manifest(tiny_site):
    raw, m = tiny_site
    size = world.SIZES["tiny"]
    dirty = m["dirty_rows"]
    assert _read(raw, "users").num_rows == size.n_users + dirty["users.null_user_id"] + dirty["users.duplicate_user"]
    assert _read(raw, "oracle_items").num_rows == size.n_items
    assert _read(raw, "interactions").num_rows == m["counts"]["interactions"]
    assert m["counts"]["text_pairs"] == _read(raw, "text_pairs").num_rows
    assert set(pc.unique(_read(raw, "text_pairs")["perspective"]).to_pylist()) == {
        "multilingual",
        "relation",
        "explanation",
    }


def test_tags_name_entities_in_three_scripts(tiny_site):
    raw, _ = tiny_site
    tags = [t for row in _read(raw, "illustrations")["tags"].to_pylist() if row for t in row]
    kana = sum(any("\u30a0" <= ch <= "\u30ff" for ch in t) for t in tags)
    han = sum(any("\u4e00" <= ch <= "\u9fff" for ch in t) for t in tags)
    latin = sum(t.isascii() for t in tags)
    assert min(kana, han, latin) > 0.05 * len(tags)


def _style_features(path: str) -> np.ndarray:
    """Colour and texture statistics: channel means/stds, saturation, edge energy, blockiness."""
    a = np.asarray(Image.open(path).convert("RGB").resize((64, 64)), float) / 255
    grey = a.mean(-1)
    dx, dy = np.abs(np.diff(grey, axis=1)), np.abs(np.diff(grey, axis=0))
    return np.concatenate(
        [
            a.mean((0, 1)),
            a.std((0, 1)),
            [
                (a.max(-1) - a.min(-1)).mean(),
                dx.mean(),
                dy.mean(),
                (dx > 0.02).mean(),
                np.abs(np.diff(grey, 2, axis=1)).mean(),
            ],
        ]
    )


def test_painting_styles_are_distinguishable_by_simple_statistics(tiny_site):
    raw, m = tiny_site
    items = _read(raw, "oracle_items").to_pandas().merge(_read(raw, "illustrations").to_pandas(), on="illust_id")
    items = items[items.image_uri.notna() & ~items.illust_id.isin(m["counts"]["corrupt_images"])].drop_duplicates(
        "illust_id"
    )
    x = np.stack([_style_features(p) for p in items.image_uri])
    y = items["style"].to_numpy()
    x = (x - x.mean(0)) / (x.std(0) + 1e-9)
    train = np.arange(len(y)) % 2 == 0
    centroids = np.stack([x[train & (y == s)].mean(0) for s in range(len(np.unique(y)))])
    pred = np.argmin(((x[~train, None, :] - centroids[None]) ** 2).sum(-1), 1)
    accuracy = (pred == y[~train]).mean()
    assert accuracy > 0.7, f"nearest-centroid style accuracy {accuracy:.2f} (chance {1 / len(centroids):.2f})"


def test_oracle_probabilities_carry_signal(tiny_site):
    raw, m = tiny_site
    oracle = _read(raw, "oracle").to_pandas()
    value = auc(oracle.p_bookmark.to_numpy(), oracle.bookmarked.to_numpy())
    assert value > 0.7
    assert value == pytest.approx(m["distribution"]["oracle_auc"], abs=1e-9)
    bookmarks = _read(raw, "interactions").filter(pc.field("event") == "bookmark").num_rows
    assert bookmarks >= oracle.bookmarked.sum()  # every oracle bookmark has its row (plus dirty copies)


def test_long_tail_and_unseen_test_items(tiny_site):
    _, m = tiny_site
    d = m["distribution"]
    assert d["items_top20pct_view_share"] > 0.5
    assert 0.05 < d["test_views_of_items_unseen_in_train_share"] < 0.6


def test_dirty_row_counts_match_what_was_reported(tiny_site):
    raw, m = tiny_site
    dirty = m["dirty_rows"]
    inter = _read(raw, "interactions").to_pandas()
    user_ids = set(_read(raw, "users")["user_id"].drop_null().to_pylist())
    item_ids = set(_read(raw, "illustrations")["illust_id"].drop_null().to_pylist())
    assert inter.user_id.isna().sum() == dirty["interactions.null_user_id"]
    assert inter.illust_id.isna().sum() == dirty["interactions.null_illust_id"]
    assert (inter.user_id.notna() & ~inter.user_id.isin(user_ids)).sum() == dirty["interactions.unknown_user_id"]
    assert (inter.illust_id.notna() & ~inter.illust_id.isin(item_ids)).sum() == dirty["interactions.unknown_illust_id"]
    assert inter.ts.isna().sum() == dirty["interactions.null_ts"]
    ts = inter.ts.dropna()
    out_of_year = ((ts < "2021-01-01") | (ts >= "2022-01-01")).sum()
    assert out_of_year == dirty["interactions.out_of_range_ts"]
    assert (~inter.event.isin(["view", "bookmark"])).sum() == dirty["interactions.bad_event"]
    assert inter.duplicated().sum() == dirty["interactions.duplicate_event"]
    users = _read(raw, "users").to_pandas()
    assert users.user_id.isna().sum() == dirty["users.null_user_id"]
    assert users.dropna(subset=["user_id"]).user_id.duplicated().sum() == dirty["users.duplicate_user"]


def test_exactly_the_reported_image_is_corrupt(tiny_site):
    raw, m = tiny_site
    uris = [u for u in _read(raw, "illustrations")["image_uri"].drop_null().unique().to_pylist()]
    broken = []
    for uri in uris:
        try:
            Image.open(uri).load()
        except OSError:
            broken.append(Path(uri).stem)
    assert broken == m["counts"]["corrupt_images"] and len(broken) == 1


def test_same_seed_same_output_other_seed_other_output(spark, tiny_site, tmp_path):
    raw, m = tiny_site
    again = generate(spark, "tiny", str(tmp_path / "again"), seed=7, images=True)
    assert again["counts"] == m["counts"] and again["dirty_rows"] == m["dirty_rows"]
    for name in ("interactions", "users", "text_pairs", "oracle", "oracle_items"):
        assert _read(raw, name).equals(_read(tmp_path / "again", name)), name
    first = sorted((raw / "images").rglob("*.jpg"))
    second = sorted((tmp_path / "again" / "images").rglob("*.jpg"))
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    other = generate(spark, "tiny", str(tmp_path / "other"), seed=8, images=False)
    assert not _read(raw, "oracle").equals(_read(tmp_path / "other", "oracle"))
    assert other["images"] is False
    assert (
        _read(tmp_path / "other", "illustrations")["image_uri"].null_count
        == _read(tmp_path / "other", "illustrations").num_rows
    )
