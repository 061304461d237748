"""Deprecated alias of `ray_apps.encoders.finetune_text` (this path is kept for one release so existing
`python -m ray_apps.finetune_text_encoder` job entrypoints keep working)."""

from ray_apps.encoders.finetune_text import *  # noqa: F403
from ray_apps.encoders.finetune_text import build_parser, main  # noqa: F401

if __name__ == "__main__":
    raise SystemExit(main())
