"""The FeatureSpec of our lake's interaction tables (docs/architecture.md, "The lake").

Pure: it takes vocabulary sizes (read from the lake's `vocab` by the caller) and vector widths.
Any other CTR table is described by its own YAML spec instead.
"""

from __future__ import annotations

from umair_models.features import FeatureSpec, FieldSpec, Group

# column -> (vocab feature, group); multi-valued columns carry their padded length.
CATEGORICAL: dict[str, tuple[str, Group]] = {
    "user_idx": ("user_id", "user"),
    "gender_idx": ("gender", "user"),
    "age_idx": ("age", "user"),
    "region_idx": ("region", "user"),
    "language_idx": ("language", "user"),
    "item_id_idx": ("illust_id", "item"),
    "artist_idx": ("artist_id", "item"),
    "type_idx": ("type", "item"),
    "x_restrict_idx": ("x_restrict", "item"),
    "ai_generated_idx": ("ai_generated", "item"),
    "pages_idx": ("pages", "item"),
    "aspect_idx": ("aspect", "item"),
    "has_image_idx": ("has_image", "item"),
    "item_age_idx": ("item_age", "context"),
}
MULTI: dict[str, tuple[str, Group]] = {
    "interest_tags_idx": ("tag", "user"),
    "tags_idx": ("tag", "item"),
}  # padded lengths: from the lake
MODALITIES = ("e_tsem", "e_sem", "e_sty")


def illustration_spec(
    vocab_sizes: dict[str, int], num_items: int, max_lens: dict[str, int], modality_dims: dict[str, int] | None = None
) -> FeatureSpec:
    """vocab_sizes: vocab feature -> number of values V (indices 1..V; the field gets V + 1 rows).

    num_items: rows of the item catalogue (item_idx 1..num_items). max_lens: padded length of each
    multi-valued column (MULTI), as the preprocessing run wrote it. modality_dims: width of each
    item_features vector (e_tsem, e_sem, e_sty); omit for a spec without multimodal inputs.
    """
    missing = sorted(set(MULTI) - set(max_lens))
    if missing:
        raise ValueError(f"max_lens needs the padded length of {missing}")
    fields = [
        FieldSpec(col, "categorical", vocab_size=vocab_sizes.get(feat, 0) + 1, group=group)
        for col, (feat, group) in CATEGORICAL.items()
    ]
    fields += [
        FieldSpec(col, "multi_categorical", vocab_size=vocab_sizes.get(feat, 0) + 1, max_len=max_lens[col], group=group)
        for col, (feat, group) in MULTI.items()
    ]
    fields = [f if f.vocab_size >= 2 else FieldSpec(f.name, f.kind, 2, f.max_len, f.dim, f.group) for f in fields]
    fields.append(FieldSpec("item_idx", "index", vocab_size=num_items + 1, group="item"))
    for name, dim in (modality_dims or {}).items():
        fields.append(FieldSpec(name, "pretrained", dim=dim, group="item", lookup="item_idx"))
    return FeatureSpec(fields, label="label")
