"""Real HTTP against a local Ray Serve app on the tiny UMAIR-FPS run."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import torch

from ray_apps.lake import read_table
from tests.ray_apps.serve.conftest import second_app


def test_health_and_model_info(url):
    assert requests.get(f"{url}/healthz", timeout=30).json() == {"status": "ok"}
    info = requests.get(f"{url}/v1/model", timeout=30).json()
    assert info["model"] == "umair_fps" and info["metrics"]["auc"] > 0 and info["feature_versions"]["image_encoder"]
    assert "/v1/rank" in requests.get(f"{url}/openapi.json", timeout=30).json()["paths"]


def offline_scores(run_dir: Path, lake: Path, rows) -> list[float]:
    """Click probabilities the run's model gives the lake's interaction `rows` (pandas), one by one."""
    from ray_apps.artifacts import load_ranker
    from ray_apps.encoders.item_features import load_item_vectors
    from ray_apps.ranker.data import DatasetConfig, ToArrays

    model, spec, _ = load_ranker(run_dir)
    if model.lookups:
        for name, (v, p) in load_item_vectors(DatasetConfig.for_lake(lake).item_features).items():
            model.load_pretrained(name, torch.from_numpy(v), torch.from_numpy(p))
    arrays = ToArrays(spec, "user_id")(rows)
    inputs = {k: torch.from_numpy(v) for k, v in arrays.items() if k in spec.input_columns()}
    with torch.inference_mode():
        return [float(torch.sigmoid(model({k: v[i : i + 1] for k, v in inputs.items()}))[0]) for i in range(len(rows))]


def served_scores(url: str, rows) -> list[float]:
    """The endpoint's score for each of the interaction `rows`, one request each."""
    return [
        requests.post(
            f"{url}/v1/rank",
            json={"user_id": row.user_id, "illust_ids": [row.illust_id], "ts": row.ts.isoformat()},
            timeout=30,
        ).json()["results"][0]["score"]
        for row in rows.itertuples()
    ]


def some_test_rows(lake: Path, n: int = 6):
    test = read_table(lake / "interactions_test").to_pandas()
    return test[test.user_id == test.user_id.value_counts().index[0]].head(n)


def test_rank_scores_equal_offline_predictions(url, tiny_runs, tiny_lake):
    runs, records = tiny_runs
    lake, _ = tiny_lake
    rows = some_test_rows(lake)
    offline = offline_scores(Path(runs, records["umair_fps"]["run"]), lake, rows)
    assert served_scores(url, rows) == pytest.approx(offline, abs=2e-4)  # the replica holds projected rows in fp16


def test_rank_sorts_and_recommend_returns_k_unseen(url, tiny_lake):
    lake, _ = tiny_lake
    train = read_table(lake / "interactions_train", columns=["user_id", "illust_id"]).to_pandas()
    user = train.user_id.value_counts().index[0]
    ids = list(read_table(lake / "items", columns=["illust_id"])["illust_id"].to_pylist()[:20])
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


def test_bearer_token_guards_all_but_health_when_set(url, tiny_runs, tiny_lake):
    """A second app whose replica has UMAIR_SERVE_TOKEN in its environment (as from a Kubernetes Secret)."""
    from ray_apps.serve.guard import TOKEN_ENV

    with second_app("secured", {TOKEN_ENV: "s3cret"}, tiny_runs, tiny_lake) as prefix:
        body = {"user_id": "1000001", "illust_ids": ["80000001"]}
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "s3cret"}):
            r = requests.post(f"{url}{prefix}/v1/rank", json=body, headers=headers, timeout=30)
            assert r.status_code == 401 and r.json()["detail"] and r.headers["www-authenticate"] == "Bearer"
        assert requests.get(f"{url}{prefix}/v1/model", timeout=30).status_code == 401
        assert requests.get(f"{url}{prefix}/healthz", timeout=30).json() == {"status": "ok"}  # probes pass
        ok = requests.post(f"{url}{prefix}/v1/rank", json=body, headers={"authorization": "Bearer s3cret"}, timeout=30)
        assert ok.status_code == 200 and len(ok.json()["results"]) == 1
        assert requests.post(f"{url}/v1/rank", json=body, timeout=30).status_code == 200  # unset: open (demo)


def test_swap_to_another_run_drops_no_request(url, tiny_runs, tiny_lake):
    """Open-loop traffic (30 requests/s, as product services send it) while the endpoint moves from
    UMAIR-FPS to DCN-V2: every request is answered 200, and afterwards the answers are DCN-V2's
    offline predictions. (Replacing the replica instead leaves seconds without one: 503s.)"""
    from ray_apps.serve.deploy import swap
    from ray_apps.serve.raw_http import good_rank_requests, paced

    runs, records = tiny_runs
    lake, _ = tiny_lake
    old, new = (Path(runs, records[m]["run"]) for m in ("umair_fps", "dcn_v2"))
    rows = some_test_rows(lake, 4)
    assert offline_scores(new, lake, rows) != pytest.approx(offline_scores(old, lake, rows), abs=1e-3)
    body = {"user_id": "1000001", "illust_ids": [str(80000000 + i) for i in range(20)]}
    host, port = urlsplit(url).hostname, urlsplit(url).port
    swapper = threading.Timer(1.5, swap, args=(str(new), str(lake)))
    swapper.start()
    answers = asyncio.run(paced(host, port, good_rank_requests(240, body), rate=30, timeout_s=60))
    swapper.join()
    try:
        statuses = Counter(a.status for a in answers)
        assert statuses == {200: 240}, statuses
        info = requests.get(f"{url}/v1/model", timeout=30).json()
        assert info["model"] == "dcn_v2" and info["run"] == new.name and info["swaps"] >= 1
        assert served_scores(url, rows) == pytest.approx(offline_scores(new, lake, rows), abs=2e-4)
    finally:
        swap(str(old), str(lake))
    assert requests.get(f"{url}/v1/model", timeout=30).json()["run"] == old.name


def test_a_run_that_fails_to_load_is_refused_and_the_endpoint_keeps_serving(url, tiny_runs, tmp_path, tiny_lake):
    from ray_apps.artifacts import UnsafeArtifactError
    from ray_apps.serve.deploy import swap

    runs, records = tiny_runs
    lake, _ = tiny_lake
    (tmp_path / "model.pt").write_bytes(b"not a model")  # no model.safetensors: an old or foreign run
    with pytest.raises((FileNotFoundError, UnsafeArtifactError), match="model"):
        swap(str(tmp_path), str(lake))
    info = requests.get(f"{url}/v1/model", timeout=30).json()
    assert info["run"] == records["umair_fps"]["run"] and info["swap_error"] is None
