"""Deprecated alias of `ray_apps.ranker.compare` (this path is kept for one release so existing
`python -m ray_apps.compare` job entrypoints keep working)."""

from ray_apps.ranker.compare import *  # noqa: F403
from ray_apps.ranker.compare import build_parser, main  # noqa: F401

if __name__ == "__main__":
    raise SystemExit(main())
