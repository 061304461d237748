"""Deprecated alias of `ray_apps.ranker.report` (this path is kept for one release so existing
`python -m ray_apps.report` job entrypoints keep working)."""

from ray_apps.ranker.report import *  # noqa: F403
from ray_apps.ranker.report import build_parser, main  # noqa: F401

if __name__ == "__main__":
    raise SystemExit(main())
