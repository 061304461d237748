"""Deprecated alias of `ray_apps.encoders.pretrain_image` (this path is kept for one release so existing
`python -m ray_apps.pretrain_image_encoder` job entrypoints keep working)."""

from ray_apps.encoders.pretrain_image import *  # noqa: F403
from ray_apps.encoders.pretrain_image import build_parser, main  # noqa: F401

if __name__ == "__main__":
    raise SystemExit(main())
