"""Deprecated alias of `ray_apps.serve.app` (this path is kept for one release so existing
`python -m ray_apps.serve_app` job entrypoints keep working)."""

from ray_apps.serve.app import *  # noqa: F403
from ray_apps.serve.app import build_parser, main  # noqa: F401

if __name__ == "__main__":
    raise SystemExit(main())
