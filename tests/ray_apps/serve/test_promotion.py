"""Promotion and rollback move the live endpoint in place: open-loop traffic sees no failed request, the
answers become the promoted run's offline predictions, and rollback gives back the previous answers exactly."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.ray_apps.lifecycle.conftest import recorded_copy
from tests.ray_apps.serve.test_app import offline_scores, served_scores, some_test_rows


def test_promote_under_traffic_then_roll_back_to_the_same_answers(url, tiny_runs, tiny_lake, tmp_path):
    from ray_apps.lifecycle import registry
    from ray_apps.lifecycle.promote import promote, rollback
    from ray_apps.serve.deploy import swap
    from ray_apps.serve.raw_http import good_rank_requests, paced

    runs, records = tiny_runs
    lake, _ = tiny_lake
    serving = Path(runs, records["umair_fps"]["run"])
    mine = tmp_path / "runs"
    champion = recorded_copy(mine, serving, "champion")
    challenger = recorded_copy(mine, Path(runs, records["dcn_v2"]["run"]), "challenger")
    rows = some_test_rows(lake, 4)
    try:
        assert promote(champion, str(lake)).swapped  # the first champion: the endpoint moves to it
        before = served_scores(url, rows)
        assert before == pytest.approx(offline_scores(serving, lake, rows), abs=2e-4)

        body = {"user_id": "1000001", "illust_ids": [str(80000000 + i) for i in range(20)]}
        host, port = urlsplit(url).hostname, urlsplit(url).port
        moved: dict = {}
        promoter = threading.Timer(1.5, lambda: moved.update(m=promote(challenger, str(lake), force="test")))
        promoter.start()
        answers = asyncio.run(paced(host, port, good_rank_requests(240, body), rate=30, timeout_s=60))
        promoter.join()
        assert Counter(a.status for a in answers) == {200: 240}
        assert moved["m"].swapped and registry.champion(mine)[1] == challenger
        assert requests.get(f"{url}/v1/model", timeout=30).json()["run"] == "challenger"
        assert served_scores(url, rows) == pytest.approx(offline_scores(Path(challenger), lake, rows), abs=2e-4)

        assert rollback(str(mine), str(lake)).swapped
        assert registry.champion(mine)[1] == champion
        assert served_scores(url, rows) == before  # exactly the answers served before the promotion
    finally:
        swap(str(serving), str(lake))
