"""How clean must one modality's item vectors be for the ranker to gain what the site's truth gives?

    .venv/bin/python bench/vector_swap.py --workdir W --out W2 --modality e_sty --stand-in noisy:0.12
    .venv/bin/python bench/quality_demo.py --workdir W2 --out W2/q --models umair_fps --controls none \
        --variants none --seeds 3 --epochs 10 --batch-size 512 --oracle-vectors none \
        --set user_item_dot=true --set vector_components=16

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

LINKED_OUT = ("item_features", "experiments")  # W2's own: the swapped vectors, and compare's records


def decoded(blobs) -> np.ndarray:
    """n float16 blobs, none missing -> [n, width] float32."""
    from ray_apps.encoders.item_features import from_blobs

    blobs = list(blobs)
    return from_blobs(blobs, len(blobs[0]) // 2).astype(np.float32)


def stand_in(kind: str, vectors: np.ndarray, code: np.ndarray, lake: Path, rows) -> np.ndarray:
    """vectors [n, d] learned, code [n, C] the true one-hot, rows: those n items' rows of item_features (a
    frame) -> [n, width] float32 stand-in (see the docstring)."""
    name, _, value = kind.partition(":")
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
        mapped, best = collaborative_map(lake, rows["item_idx"].to_numpy(), np.hstack(content))
        print(f"collaborative map over {value}: best validation AUC {best:.4f}")
        return mapped.astype(np.float32)
    raise SystemExit(f"--stand-in {kind!r}: use oracle, noisy:SIGMA, collab:M1+M2 or kmeans:K")


def main() -> int:
    import pyarrow as pa
    from deltalake import write_deltalake

    from ray_apps.encoders.item_features import to_blob
    from ray_apps.lake import read_table
    from ray_apps.ranker.oracle_vectors import ATTRIBUTE_OF, TABLE, write_oracle_vectors
    from ray_apps.ranker.probes import HOLDOUT_MOD, code_recovery

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--modality", choices=sorted(ATTRIBUTE_OF), default="e_sty")
    p.add_argument("--stand-in", dest="kind", required=True, help="oracle | noisy:SIGMA | collab:M1+M2 | kmeans:K")
    a = p.parse_args()

    lake, out_lake = a.workdir / "lake", a.out / "lake"
    if not (lake / TABLE).exists():
        write_oracle_vectors(a.workdir / "raw", str(lake))
    table = read_table(lake / "item_features")
    learned = table.to_pandas()
    truth = read_table(lake / TABLE, ["item_idx", a.modality]).to_pandas().set_index("item_idx")[a.modality]
    rows = learned.index[learned[a.modality].notna() & learned["ok"]].to_numpy()
    items = learned.loc[rows, "item_idx"].to_numpy()
    vectors, code = decoded(learned.loc[rows, a.modality]), decoded(truth[items])
    new = stand_in(a.kind, vectors, code, lake, learned.loc[rows])
    held_out = items % HOLDOUT_MOD == 0
    classes = code.argmax(1)
    print(
        f"{a.modality} {ATTRIBUTE_OF[a.modality]} code R^2: learned {code_recovery(vectors, classes, held_out):.2f}, ",
        end="",
    )
    print(f"{a.kind} {code_recovery(new, classes, held_out):.2f} ({len(items):,} items, {new.shape[1]} wide)")

    column: list[bytes | None] = [None] * len(learned)
    for row, blob in zip(rows, to_blob(new), strict=True):
        column[row] = blob
    table = table.set_column(table.schema.get_field_index(a.modality), a.modality, pa.array(column, pa.binary()))
    out_lake.mkdir(parents=True, exist_ok=True)
    for source in [*lake.iterdir(), a.workdir / "raw"]:
        link = (a.out if source.name == "raw" else out_lake) / source.name
        if source.name not in LINKED_OUT and not link.exists():
            link.symlink_to(source.resolve())
    write_deltalake(str(out_lake / "item_features"), table, mode="overwrite")
    print(f"-> {out_lake / 'item_features'}; now: python bench/quality_demo.py --workdir {a.out} --out {a.out}/q ...")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
