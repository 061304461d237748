"""Spark job: write the sample illustration site as a raw landing zone (docs/architecture.md, "Raw landing zone").

    spark-submit spark_jobs/generate_site.py --size demo --out RAW [--seed 7] [--no-images]
    umair generate --size tiny --out RAW

Each Spark task builds one block of users or illustrations from (size, seed) alone and writes
its own Parquet file (and JPEGs), so the output is byte-for-byte the same for the same seed,
whatever the cluster. Datasets written under RAW:
  interactions/ users/ illustrations/ text_pairs/   the raw contract (--days N: the last N days
                                                   under <dataset>/date=YYYY-MM-DD/, see site/days.py)
  images/                                          JPEG files named by `image_uri`
  oracle/ (true P(bookmark) per view), oracle_items/ (style, subject, series per illustration)
  _manifest.json                                   sizes, dirty-row counts, distribution stats
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from spark_jobs.config import PrepConfig
from spark_jobs.site import activity, catalogue, corpus, painter, world
from spark_jobs.site import days as arriving_days

log = logging.getLogger("umair.generate")
DATASETS = ("interactions", "users", "illustrations", "text_pairs", "oracle", "oracle_items", "images")


def _write(table: pa.Table, out: str, dataset: str, part: int, day: str | None = None) -> None:
    folder = Path(out, dataset) if day is None else Path(out, dataset, f"date={day}")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".part-{part:05d}.parquet.tmp"
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, folder / f"part-{part:05d}.parquet")  # a retried task replaces, never duplicates


def _write_days(
    table: pa.Table, out: str, dataset: str, block: int, days: int, time_column: str, late_seed=None
) -> dict:
    """The history part of `table` as before; each arriving day's rows under dataset/date=D/. -> rows per day."""
    if days <= 0:
        _write(table, out, dataset, block)
        return {}
    history, by_day = arriving_days.split_by_day(table, time_column, days, late_seed)
    _write(history, out, dataset, block)
    for day, rows in by_day.items():
        if rows.num_rows:
            _write(rows, out, dataset, block, day)
    return {f"{day}.{dataset}": rows.num_rows for day, rows in by_day.items()}


def _user_task(size: world.SiteSize, seed: int, out: str, block: int, days: int) -> dict:
    users, dirty_users = catalogue.user_rows(size, seed, block)
    per_day = _write_days(users, out, "users", block, days, "created_at")
    acts = activity.generate_block(size, seed, block, days)
    late = world.rng_for(seed, "late", block)
    per_day |= _write_days(acts.interactions, out, "interactions", block, days, "ts", late)
    _write(acts.oracle, out, "oracle", block)
    return {
        "days": per_day,
        "users": users.num_rows,
        "interactions": acts.interactions.num_rows,
        "views": acts.oracle.num_rows,
        "bookmarks": int(np.asarray(acts.oracle["bookmarked"]).sum()),
        "dirty": {
            **{f"interactions.{k}": v for k, v in acts.dirty_counts.items()},
            **{f"users.{k}": v for k, v in dirty_users.items()},
        },
    }


def _item_task(size: world.SiteSize, seed: int, out: str, block: int, images: bool, days: int) -> dict:
    image_root = str(Path(out, "images").resolve()) if images else None
    table, dirty = catalogue.item_rows(size, seed, block, image_root)
    per_day = _write_days(table, out, "illustrations", block, days, "created_at")
    items = world.build_items(size, seed)
    start = block * size.items_per_block
    idx = np.arange(start, min(start + size.items_per_block, size.n_items))
    _write(
        pa.table(
            {
                "illust_id": pa.array(world.illust_id(idx)),
                "style": pa.array(items.style[idx].astype(np.int32)),
                "style_name": pa.array([painter.STYLES[s].name for s in items.style[idx]]),
                "subject": pa.array(items.subject[idx].astype(np.int32)),
                "series": pa.array(items.series[idx]),
                "character": pa.array(items.character[idx]),
            }
        ),
        out,
        "oracle_items",
        block,
    )
    painted = 0
    corrupt: list[str] = []
    if images:
        uris = table.column("image_uri").to_pylist()[: idx.size]
        for k, i in enumerate(idx):
            if uris[k] is None:
                continue
            w, h = table.column("width")[k].as_py(), table.column("height")[k].as_py()
            img = painter.paint(int(items.style[i]), int(items.subject[i]), w, h, world.rng_for(seed, "paint", int(i)))
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=90)
            data = buf.getvalue()
            if block == 0 and not corrupt:  # one deliberately corrupt file: a truncated JPEG
                data, corrupt = data[: len(data) // 5], [str(world.illust_id(int(i)))]
            Path(uris[k]).parent.mkdir(parents=True, exist_ok=True)
            Path(uris[k]).write_bytes(data)
            painted += 1
    return {
        "days": per_day,
        "illustrations": table.num_rows,
        "oracle_items": int(idx.size),
        "images": painted,
        "corrupt_images": corrupt,
        "dirty": {f"illustrations.{k}": v for k, v in dirty.items()},
    }


def _merge(stats: list[dict]) -> dict:
    total: dict = {"dirty": {}}
    for s in stats:
        for key, value in s.items():
            if isinstance(value, dict):  # dirty rows by kind, rows per arriving day
                for k, v in value.items():
                    total.setdefault(key, {})[k] = total.setdefault(key, {}).get(k, 0) + v
            else:
                total[key] = total.get(key, 0 if not isinstance(value, list) else []) + value
    return total


def _by_day(rows: dict[str, int]) -> dict[str, dict[str, int]]:
    """{'2021-12-30.interactions': 40, ...} -> {'2021-12-30': {'interactions': 40, ...}, ...}, oldest first."""
    out: dict[str, dict[str, int]] = {}
    for key in sorted(rows):
        day, dataset = key.split(".", 1)
        out.setdefault(day, {})[dataset] = rows[key]
    return out


def distribution_stats(spark, out: str) -> dict:
    """Long-tail shares, cold-item share of test views and the oracle AUC, from the written data."""
    from pyspark.sql import functions as F

    oracle = spark.read.parquet(str(Path(out, "oracle")))
    split = F.lit(PrepConfig().test_start).cast("timestamp")  # the default test split of `umair prep`
    per_item = oracle.groupBy("illust_id").count().toPandas()["count"].sort_values(ascending=False).to_numpy()
    per_user = oracle.groupBy("user_id").count().toPandas()["count"].sort_values(ascending=False).to_numpy()
    seen = oracle.where(F.col("ts") < split).select("illust_id").distinct()
    test = oracle.where(F.col("ts") >= split)
    n_test = test.count()
    n_cold = test.join(seen, "illust_id", "left_anti").count()
    sample = (
        oracle.select("p_bookmark", "bookmarked")
        .sample(fraction=min(1.0, 2_000_000 / max(1, oracle.count())), seed=1)
        .toPandas()
    )
    share = lambda counts, top: float(counts[: max(1, int(len(counts) * top))].sum() / counts.sum())  # noqa: E731
    return {
        "items_top1pct_view_share": share(per_item, 0.01),
        "items_top20pct_view_share": share(per_item, 0.20),
        "items_bottom50pct_view_share": float(per_item[len(per_item) // 2 :].sum() / per_item.sum()),
        "users_top20pct_view_share": share(per_user, 0.20),
        "test_views": n_test,
        "test_views_of_items_unseen_in_train_share": n_cold / max(1, n_test),
        "bookmark_rate": float(sample["bookmarked"].mean()),
        "oracle_auc": auc(sample["p_bookmark"].to_numpy(), sample["bookmarked"].to_numpy()),
    }


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Rank-based ROC AUC with ties at their mean rank."""
    from scipy.stats import rankdata

    labels = labels.astype(bool)
    n_pos, n_neg = labels.sum(), (~labels).sum()
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def generate(spark, size_name: str, out: str, seed: int = 7, images: bool = True, days: int = 0) -> dict:
    """Write the whole site under `out` (replacing what was there); return the manifest. `days` > 0:
    the year's last `days` days arrive as partitions `<dataset>/date=D/` (spark_jobs.site.days)."""
    if not 0 <= days <= 28:
        raise ValueError(f"--days must be between 0 and 28 (the year's last four weeks), got {days}")
    size = world.SIZES[size_name]
    t0 = time.time()
    for name in DATASETS:
        shutil.rmtree(Path(out, name), ignore_errors=True)
    Path(out).mkdir(parents=True, exist_ok=True)
    sc = spark.sparkContext
    nu, ni = world.n_user_blocks(size), world.n_item_blocks(size)
    log.info("generating %s site (seed %d): %d user blocks, %d illustration blocks -> %s", size_name, seed, nu, ni, out)
    user_stats = sc.parallelize(range(nu), nu).map(lambda b: _user_task(size, seed, out, b, days)).collect()
    item_stats = sc.parallelize(range(ni), ni).map(lambda b: _item_task(size, seed, out, b, images, days)).collect()
    pairs, dirty_pairs = corpus.text_pairs(size, seed)
    _write(pairs, out, "text_pairs", 0)
    stats = _merge(user_stats + item_stats)
    stats["dirty"].update({f"text_pairs.{k}": v for k, v in dirty_pairs.items()})
    stats["text_pairs"] = pairs.num_rows
    manifest = {
        "size": size_name,
        "seed": seed,
        "images": images,
        "out": str(Path(out).resolve()),
        "counts": {k: v for k, v in stats.items() if k not in ("dirty", "days")},
        "days": _by_day(stats.get("days", {})),
        "dirty_rows": stats["dirty"],
        "generative_rule": {
            "base": world.BASE,
            "w_style": world.W_STYLE,
            "w_subject": world.W_SUBJECT,
            "w_series": world.W_SERIES,
            "w_popularity": world.W_POP,
        },
        "distribution": distribution_stats(spark, out),
        "seconds": round(time.time() - t0, 1),
    }
    Path(out, "_manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    return manifest


def print_manifest(m: dict) -> None:
    c, d = m["counts"], m["distribution"]
    print(f"Wrote the '{m['size']}' sample site (seed {m['seed']}) to {m['out']} in {m['seconds']} s:")
    for name in ("interactions", "users", "illustrations", "text_pairs"):
        print(f"  {name:<14} {c[name]:>12,} rows   {m['out']}/{name}/")
    print(
        f"  {'oracle':<14} {c['views']:>12,} rows   {m['out']}/oracle/  (true P(bookmark) per view; not a model input)"
    )
    print(f"  {'oracle_items':<14} {c['oracle_items']:>12,} rows   {m['out']}/oracle_items/")
    print(
        f"  {'images':<14} {c['images']:>12,} JPEGs  {m['out']}/images/  (corrupt on purpose: {', '.join(c['corrupt_images']) or 'none'})"
    )
    print(
        f"  views {c['views']:,}, bookmarks {c['bookmarks']:,} (rate {d['bookmark_rate']:.3f}); oracle AUC {d['oracle_auc']:.4f}"
    )
    print(
        f"  long tail: top 1% of illustrations get {d['items_top1pct_view_share']:.1%} of views, top 20% get "
        f"{d['items_top20pct_view_share']:.1%}, bottom 50% get {d['items_bottom50pct_view_share']:.1%}; "
        f"top 20% of users make {d['users_top20pct_view_share']:.1%} of views"
    )
    print(
        f"  test-period views of illustrations unseen in training: {d['test_views_of_items_unseen_in_train_share']:.1%}"
    )
    for day, rows in m.get("days", {}).items():
        print(
            f"  arriving day {day}: "
            + ", ".join(f"{n:,} {k}" for k, n in sorted(rows.items()))
            + f"   {m['out']}/<dataset>/date={day}/"
        )
    print("  dirty rows written on purpose: " + ", ".join(f"{k}={v}" for k, v in sorted(m["dirty_rows"].items())))
    print(f"  manifest: {m['out']}/_manifest.json")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Generate the sample illustration site (raw landing zone).")
    p.add_argument("--size", choices=sorted(world.SIZES), default="tiny", help="site size (default: tiny)")
    p.add_argument("--out", required=True, help="raw landing zone folder to (re)write")
    p.add_argument("--seed", type=int, default=7, help="random seed; same seed, same output (default: 7)")
    p.add_argument("--no-images", action="store_true", help="skip painting JPEGs (image_uri is null)")
    p.add_argument(
        "--days",
        type=int,
        default=0,
        help="hold the year's last N days back as daily partitions <dataset>/date=D/ (umair ingest takes them)",
    )
    p.add_argument("--master", default=None, help="Spark master (default: spark-submit's, else local[*])")
    return p


def main(argv: list[str] | None = None) -> int:
    from spark_jobs.session import get_spark

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    spark = get_spark("umair-generate", args.master)
    manifest = generate(spark, args.size, args.out, args.seed, images=not args.no_images, days=args.days)
    print_manifest(manifest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
