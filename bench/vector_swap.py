"""How clean must one modality's item vectors be for the ranker to gain what the site's truth gives?

    .venv/bin/python bench/vector_swap.py --workdir W --out W2 --modality e_sty --stand-in noisy:0.12
    .venv/bin/python bench/quality_demo.py --workdir W2 --out W2/q --models umair_fps --controls none \
        --variants none --seeds 3 --epochs 10 --batch-size 512 --oracle-vectors none \
        --set user_item_dot=true --set vector_components=16

    .venv/bin/python bench/vector_swap.py --lake L --out L2 --modality e_tsem --stand-in collab:e_tsem \
        --user-column user_id    # a featurized lake (MovieLens 100K): no truth, so `collab` only

W: a demo workdir (`make demo`; its raw zone holds the sample site's truth). W2 gets a lake whose tables
link to W's, except item_features: W's learned vectors with MODALITY replaced by a stand-in (bench-only:
no default ever reads one):
- `oracle`: the true attribute's one-hot code (style for e_sty, subject for e_sem, series for e_tsem);
- `noisy:SIGMA`: that code plus a fixed Gaussian vector per item (seed 0, standard deviation SIGMA): every
  class at a point of its own, read back less cleanly the larger SIGMA;
- `collab:M1+M2`: a collaborative map (bench/_collab_map.py): a two-tower click model fitted on the
  training interactions, stopped on the validation split, whose item side is an MLP over the named
  modalities' whitened principal components; its 16-wide output per item (no labels, no test rows);
- `kmeans:K`: the one-hot of the item's k-means cluster (faiss, seed 0) over the modality's 16 whitened
  principal components (the model's own `PrincipalProjection`): no labels.
It prints the stand-in's reading as the report's probes give it (`code_r2`: R^2 of the true one-hot code
from 16 whitened principal components, one item in five held out), so a stand-in can be set to the learned
vectors' reading. Items without the modality keep none. The figures go to bench/README.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _collab_map import COMPONENTS, collaborative_map, whitened  # noqa: E402

LINKED_OUT = ("item_features", "experiments", "runs")  # the copy's own: the swapped vectors, compare's records


def decoded(blobs) -> np.ndarray:
    """n float16 blobs, none missing -> [n, width] float32."""
    from ray_apps.encoders.item_features import from_blobs

    blobs = list(blobs)
    return from_blobs(blobs, len(blobs[0]) // 2).astype(np.float32)


def stand_in(kind: str, vectors: np.ndarray, code: np.ndarray | None, lake: Path, rows, user: str) -> np.ndarray:
    """vectors [n, d] learned, code [n, C] the true one-hot (None: no truth), rows: those n items' rows of
    item_features (a frame), user: the interactions' integer user column -> [n, width] float32 stand-in."""
    name, _, value = kind.partition(":")
    if code is None and name != "collab":
        raise SystemExit(f"--stand-in {kind!r} needs the sample site's truth (--workdir): only collab works on --lake")
    if name == "oracle":
        return code.astype(np.float32)
    if name == "noisy":
        return (code + np.random.default_rng(0).normal(0.0, float(value), code.shape)).astype(np.float32)
    if name == "kmeans":
        import faiss

        clusters = int(value)
        points = np.ascontiguousarray(whitened(vectors))
        kmeans = faiss.Kmeans(points.shape[1], clusters, niter=25, seed=0)
        kmeans.train(points)
        _, assigned = kmeans.index.search(points, 1)
        return np.eye(clusters, dtype=np.float32)[assigned[:, 0]]
    if name == "collab":
        content = []
        for modality in value.split("+"):
            present = rows[modality].notna().to_numpy()
            part = np.zeros((len(rows), COMPONENTS), np.float32)  # an item without the modality: its mean
            part[present] = whitened(decoded(rows[modality][present]))
            content.append(part)
        mapped, best = collaborative_map(lake, rows["item_idx"].to_numpy(), np.hstack(content), user=user)
        print(f"collaborative map over {value}: best validation AUC {best:.4f}")
        return mapped.astype(np.float32)
    raise SystemExit(f"--stand-in {kind!r}: use oracle, noisy:SIGMA, collab:M1+M2 or kmeans:K")


def main() -> int:
    import pyarrow as pa
    from deltalake import write_deltalake

    from ray_apps.encoders.item_features import IMAGE_MODALITIES, to_blob
    from ray_apps.lake import read_table
    from ray_apps.ranker.oracle_vectors import ATTRIBUTE_OF, TABLE, write_oracle_vectors
    from ray_apps.ranker.probes import HOLDOUT_MOD, code_recovery

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--workdir", type=Path, help="a demo workdir (raw zone and lake)")
    source.add_argument("--lake", type=Path, help="any lake with item_features (no truth: collab only)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--modality", choices=sorted(ATTRIBUTE_OF), default="e_sty")
    p.add_argument("--stand-in", dest="kind", required=True, help="oracle | noisy:SIGMA | collab:M1+M2 | kmeans:K")
    p.add_argument("--user-column", default="user_idx", help="the interactions' integer user column (collab)")
    a = p.parse_args()

    lake = a.lake or a.workdir / "lake"
    out_lake = a.out if a.lake else a.out / "lake"
    if a.workdir and not (lake / TABLE).exists():
        write_oracle_vectors(a.workdir / "raw", str(lake))
    table = read_table(lake / "item_features")
    learned = table.to_pandas()
    has = learned[a.modality].notna() & (learned["ok"] if a.modality in IMAGE_MODALITIES else True)
    rows = learned.index[has].to_numpy()
    items = learned.loc[rows, "item_idx"].to_numpy()
    vectors, code = decoded(learned.loc[rows, a.modality]), None
    if a.workdir:
        truth = read_table(lake / TABLE, ["item_idx", a.modality]).to_pandas().set_index("item_idx")[a.modality]
        code = decoded(truth[items])
    new = stand_in(a.kind, vectors, code, lake, learned.loc[rows], a.user_column)
    if code is not None:
        held_out, classes = items % HOLDOUT_MOD == 0, code.argmax(1)
        learned_r2, new_r2 = (code_recovery(v, classes, held_out) for v in (vectors, new))
        print(f"{a.modality} {ATTRIBUTE_OF[a.modality]} code R^2: learned {learned_r2:.2f}, {a.kind} {new_r2:.2f}")
    print(f"{len(items):,} items, {new.shape[1]} wide")

    column: list[bytes | None] = [None] * len(learned)
    for row, blob in zip(rows, to_blob(new), strict=True):
        column[row] = blob
    table = table.set_column(table.schema.get_field_index(a.modality), a.modality, pa.array(column, pa.binary()))
    out_lake.mkdir(parents=True, exist_ok=True)
    for linked in [*lake.iterdir(), *([a.workdir / "raw"] if a.workdir else [])]:
        link = (a.out if linked.name == "raw" else out_lake) / linked.name
        if linked.name not in LINKED_OUT and not link.exists():
            link.symlink_to(linked.resolve())
    write_deltalake(str(out_lake / "item_features"), table, mode="overwrite")
    print(f"-> {out_lake / 'item_features'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
