"""The endpoint's Prometheus metrics, scraped from Ray's metrics port and parsed with the Prometheus text
parser: after a known mix of requests the counters moved by exactly what was sent."""

from __future__ import annotations

from pathlib import Path

import requests

from tests.prometheus import settled, value, wait_for


def test_counts_per_route_and_status_cold_start_shares_and_the_version_gauge(url, tiny_runs, tiny_lake):
    from ray_apps.serve.deploy import swap

    runs, records = tiny_runs
    lake, _ = tiny_lake
    serving = records["umair_fps"]["run"]
    ids = [str(80000000 + i) for i in range(10)]
    before = settled()  # the fixture's endpoint has answered other tests' requests
    assert value(before, "umair_model_info", run=serving) == 1

    unknown_items = 0
    for user in ["1000001"] * 5 + ["no-such-user-1", "no-such-user-2", "no-such-user-3"]:
        answer = requests.post(f"{url}/v1/rank", json={"user_id": user, "illust_ids": [*ids, "0"]}, timeout=30)
        assert answer.status_code == 200
        unknown_items += sum(not r["known"] for r in answer.json()["results"])
    assert unknown_items >= 8  # "0" is no illustration of the site
    for _ in range(2):
        assert requests.post(f"{url}/v1/rank", json={"user_id": "1"}, timeout=30).status_code == 422
    assert requests.get(f"{url}/wp-login.php", timeout=30).status_code == 404

    def delta(m: dict, name: str, **labels: str) -> float:
        return value(m, name, **labels) - value(before, name, **labels)

    expected = {
        ("umair_http_requests_total", (("route", "/v1/rank"), ("status", "200"))): 8,
        ("umair_http_requests_total", (("route", "/v1/rank"), ("status", "422"))): 2,
        ("umair_http_requests_total", (("route", "other"), ("status", "404"))): 1,
        ("umair_rank_requests_total", ()): 8,
        ("umair_unknown_users_total", ()): 3,
        ("umair_ranked_items_total", ()): 8 * 11,
        ("umair_unknown_items_total", ()): unknown_items,
        ("umair_score_count", ()): 8 * 11,
        ("umair_http_request_seconds_count", (("route", "/v1/rank"),)): 10,
    }

    def moved(m: dict) -> dict:
        return {k: delta(m, k[0], **dict(k[1])) for k in expected}

    after = wait_for(lambda m: moved(m) == expected)
    assert moved(after) == expected
    assert delta(after, "umair_batch_size_count") >= 1 and delta(after, "umair_model_step_seconds_count") >= 1
    assert not any(("user_id", "1000001") in ls or "no-such-user-1" in str(ls) for _, ls in after)  # no request content

    other = records["dcn_v2"]["run"]
    swap(str(Path(runs, other)), str(lake))
    try:
        swapped = wait_for(lambda m: value(m, "umair_model_info", run=other) == 1)
        assert value(swapped, "umair_model_info", run=other, model="dcn_v2") == 1
        assert value(swapped, "umair_model_info", run=serving) == 0  # one version per replica
    finally:
        swap(str(Path(runs, serving)), str(lake))


def test_the_psi_gauge_is_small_for_traffic_like_the_test_split_and_large_for_a_shifted_one(url, tiny_runs, tiny_lake):
    from ray_apps.lake import read_table
    from ray_apps.serve.deploy import swap
    from ray_apps.serve.drift import PAGE_AT

    runs, records = tiny_runs
    lake, _ = tiny_lake
    serving, other = (str(Path(runs, records[m]["run"])) for m in ("umair_fps", "dcn_v2"))
    test = read_table(lake / "interactions_test").to_pandas().sample(400, random_state=0)

    def drift() -> dict:
        return requests.get(f"{url}/v1/model", timeout=30).json()["score_drift"]

    try:
        swap(other, str(lake))  # a freshly loaded run: its histogram starts empty
        assert drift()["scores"] == 0 and drift()["psi"] is None
        for row in test.itertuples():  # drawn like the test split: the test rows themselves
            body = {"user_id": row.user_id, "illust_ids": [row.illust_id], "ts": row.ts.isoformat()}
            assert requests.post(f"{url}/v1/rank", json=body, timeout=30).status_code == 200
        like_test = drift()
        assert like_test["scores"] == 400 and like_test["psi"] < 0.1
        scraped = wait_for(lambda m: value(m, "umair_score_psi") == like_test["psi"])
        assert value(scraped, "umair_score_psi") == like_test["psi"]

        swap(serving, str(lake))
        swap(other, str(lake))  # fresh again
        for user in test.user_id.head(200):  # another population: only illustrations the run has never seen
            body = {"user_id": user, "illust_ids": ["0", "1", "2"]}
            assert requests.post(f"{url}/v1/rank", json=body, timeout=30).status_code == 200
        assert drift()["psi"] > PAGE_AT
    finally:
        swap(serving, str(lake))
