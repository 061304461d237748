"""Real HTTP against a local Ray Serve app on the tiny UMAIR-FPS run."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import torch
from deltalake import DeltaTable

PORT = 8765


@pytest.fixture(scope="module")
def url(tiny_runs, tiny_lake):
    from ray import serve

    from ray_apps.serve.app import start

    runs, records = tiny_runs
    lake, _ = tiny_lake
    base = start(str(Path(runs, records["umair_fps"]["run"])), str(lake), port=PORT)
    yield base
    serve.shutdown()


def test_health_and_model_info(url):
    assert requests.get(f"{url}/healthz", timeout=30).json() == {"status": "ok"}
    info = requests.get(f"{url}/v1/model", timeout=30).json()
    assert info["model"] == "umair_fps" and info["metrics"]["auc"] > 0 and info["feature_versions"]["image_encoder"]
    assert "/v1/rank" in requests.get(f"{url}/openapi.json", timeout=30).json()["paths"]


def test_rank_scores_equal_offline_predictions(url, tiny_runs, tiny_lake):
    from ray_apps.artifacts import load_ranker
    from ray_apps.encoders.item_features import load_item_vectors
    from ray_apps.ranker.data import DatasetConfig, ToArrays

    runs, records = tiny_runs
    lake, _ = tiny_lake
    model, spec, _ = load_ranker(Path(runs, records["umair_fps"]["run"]))
    for name, (v, p) in load_item_vectors(DatasetConfig.for_lake(lake).item_features).items():
        model.load_pretrained(name, torch.from_numpy(v), torch.from_numpy(p))
    test = DeltaTable(str(lake / "interactions_test")).to_pyarrow_table().to_pandas()
    user = test.user_id.value_counts().index[0]
    rows = test[test.user_id == user].head(6)
    arrays = ToArrays(spec, "user_id")(rows)
    for i, (_, row) in enumerate(rows.iterrows()):
        one = {k: torch.from_numpy(v[i : i + 1]) for k, v in arrays.items() if k in spec.input_columns()}
        offline = float(torch.sigmoid(model(one))[0])
        got = requests.post(
            f"{url}/v1/rank",
            json={"user_id": user, "illust_ids": [row.illust_id], "ts": row.ts.isoformat()},
            timeout=30,
        ).json()
        assert got["results"][0]["score"] == pytest.approx(offline, abs=1e-5)


def test_rank_sorts_and_recommend_returns_k_unseen(url, tiny_lake):
    lake, _ = tiny_lake
    train = DeltaTable(str(lake / "interactions_train")).to_pyarrow_table(columns=["user_id", "illust_id"]).to_pandas()
    user = train.user_id.value_counts().index[0]
    ids = list(DeltaTable(str(lake / "items")).to_pyarrow_table(columns=["illust_id"])["illust_id"].to_pylist()[:20])
    ranked = requests.post(f"{url}/v1/rank", json={"user_id": user, "illust_ids": ids}, timeout=30).json()
    scores = [r["score"] for r in ranked["results"]]
    assert ranked["known_user"] and scores == sorted(scores, reverse=True) and len(scores) == 20
    rec = requests.post(f"{url}/v1/recommend", json={"user_id": user, "k": 7}, timeout=30).json()
    got = [r["illust_id"] for r in rec["results"]]
    assert len(got) == 7 and not set(got) & set(train[train.user_id == user].illust_id)


def test_cold_start_users_and_items_are_scored_not_errors(url):
    r = requests.post(
        f"{url}/v1/rank", json={"user_id": "someone-new", "illust_ids": ["80000001", "not-an-item"]}, timeout=30
    )
    assert r.status_code == 200
    body = r.json()
    assert body["known_user"] is False and {x["illust_id"]: x["known"] for x in body["results"]} == {
        "80000001": True,
        "not-an-item": False,
    }
    rec = requests.post(f"{url}/v1/recommend", json={"user_id": "someone-new", "k": 3}, timeout=30)
    assert rec.status_code == 200 and len(rec.json()["results"]) == 3


@pytest.mark.parametrize(
    "body,status",
    [
        ({"user_id": "1000001", "illust_ids": []}, 422),  # empty candidate list
        ({"user_id": "1000001", "illust_ids": [str(i) for i in range(501)]}, 422),  # too many candidates
        ({"user_id": 5, "illust_ids": "80000001"}, 422),  # wrong types
        ({"illust_ids": ["80000001"]}, 422),  # missing user
        ({"user_id": "1", "illust_ids": ["1"], "extra": 1}, 422),  # unknown field
    ],
)
def test_bad_rank_requests_get_4xx_with_a_message(url, body, status):
    r = requests.post(f"{url}/v1/rank", json=body, timeout=30)
    assert r.status_code == status and r.json()["detail"]


def test_malformed_json_oversized_body_and_bad_k(url):
    r = requests.post(f"{url}/v1/rank", data="{not json", headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 422 and r.json()["detail"]
    r = requests.post(f"{url}/v1/rank", data="x" * 70_000, headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 413 and "bytes" in r.json()["detail"]
    assert requests.post(f"{url}/v1/recommend", json={"user_id": "1", "k": 0}, timeout=30).status_code == 422


def test_concurrent_requests_are_batched(url):
    before = requests.get(f"{url}/v1/model", timeout=30).json()["batching"]["batches"]
    body = {"user_id": "1000001", "illust_ids": [str(80000000 + i) for i in range(50)]}
    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda _: requests.post(f"{url}/v1/rank", json=body, timeout=60).status_code, range(48)))
    assert codes == [200] * 48
    info = requests.get(f"{url}/v1/model", timeout=30).json()["batching"]
    assert info["batches"] - before < 48 and max(info["recent_batch_sizes"]) > 1
