"""Deprecated alias of `ray_apps.ranker.job` (this path is kept for one release so existing
`python -m ray_apps.train_ranker` job entrypoints keep working)."""

from ray_apps.ranker.job import *  # noqa: F403
from ray_apps.ranker.job import build_parser, main  # noqa: F401

if __name__ == "__main__":
    raise SystemExit(main())
