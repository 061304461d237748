"""The oracle-vectors control of a sample site: each item's true attributes as its item vectors.

A control only, never a default (a real catalogue has no oracle): `umair compare --raw RAW
--oracle-vectors umair_fps,dcn_v2` trains those models once more with LAKE/item_features_oracle in
place of the vectors `embed` wrote. The vectors are one-hot codes of the generator's truth
(RAW/oracle_items), in the modality each attribute belongs to: e_STY the style, e_SEM the subject,
e_TSEM the series (0: an original work). With perfect item vectors a ranker's distance to the
learnable ceiling is its own; the distance between its oracle-vector run and its run on the learned
vectors is what the encoders lose.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from ray_apps.encoders.item_features import to_blob
from ray_apps.lake import read_table
from umair_models import storage

TABLE = "item_features_oracle"
SUFFIX = "oracle"  # run folders: <model>[__+MM]__oracle[__seedN]
ATTRIBUTE_OF = {"e_sty": "style", "e_sem": "subject", "e_tsem": "series"}


class NoOracleError(ValueError):
    """Oracle vectors asked for where there is no sample-site truth to build them from."""


def _one_hot(codes: np.ndarray, known: np.ndarray) -> list[bytes]:
    """codes [n] int >= 0 -> n float16 one-hot blobs (width: the largest code + 1; unknown rows all zero)."""
    out = np.zeros((len(codes), int(codes.max(initial=0)) + 1), np.float16)
    rows = np.flatnonzero(known)
    out[rows, codes[rows]] = 1.0
    return to_blob(out)


def write_oracle_vectors(raw: str | Path, lake: str) -> str:
    """LAKE/item_features_oracle (item_idx, illust_id, e_sty, e_sem, e_tsem, ok) from RAW/oracle_items;
    -> its location. `ok` is false for a catalogue item the truth does not name."""
    import pyarrow.dataset as ds
    from deltalake import write_deltalake

    path = Path(raw, "oracle_items")
    if not path.exists():
        raise NoOracleError(f"{path} does not exist: oracle vectors need a sample site's raw zone (umair generate)")
    truth = ds.dataset(path).to_table(columns=["illust_id", *ATTRIBUTE_OF.values()]).to_pandas()
    items = read_table(storage.join(lake, "items"), ["item_idx", "illust_id"]).to_pandas()
    rows = items.merge(truth, on="illust_id", how="left")
    known = rows["style"].notna().to_numpy()
    codes = {a: np.nan_to_num(rows[a].to_numpy(float), nan=-1).astype(np.int64) for a in ("style", "subject", "series")}
    codes["series"] = np.where(codes["series"] >= 0, codes["series"] + 1, 0)  # 0: an original work
    table = pa.table(
        {
            "item_idx": pa.array(rows["item_idx"].to_numpy(), pa.int64()),
            "illust_id": pa.array(rows["illust_id"].astype(str).tolist(), pa.string()),
            **{m: pa.array(_one_hot(np.maximum(codes[a], 0), known), pa.binary()) for m, a in ATTRIBUTE_OF.items()},
            "ok": pa.array(known, pa.bool_()),
        }
    )
    out = storage.join(storage.absolute(lake), TABLE)
    write_deltalake(out, table, mode="overwrite")
    return out
