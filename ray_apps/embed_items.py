"""Deprecated alias of `ray_apps.encoders.embed` (this path is kept for one release so existing
`python -m ray_apps.embed_items` job entrypoints keep working)."""

from ray_apps.encoders.embed import *  # noqa: F403
from ray_apps.encoders.embed import build_parser, main  # noqa: F401

if __name__ == "__main__":
    raise SystemExit(main())
