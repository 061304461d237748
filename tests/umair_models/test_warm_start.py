"""Warm start: a model on a grown vocabulary starts from a trained model's rows at the same indices."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tests.umair_models.conftest import make_spec
from umair_models.features import FeatureSpec
from umair_models.models.registry import build_model
from umair_models.warm_start import WarmStartError, check_same_model, grow_state

SMALL = {"dnn_hidden": [16]}


def _grown(spec: FeatureSpec, extra: dict[str, int]) -> FeatureSpec:
    return FeatureSpec([dataclasses.replace(f, vocab_size=f.vocab_size + extra.get(f.name, 0)) for f in spec.fields])


@pytest.mark.parametrize(
    "model_name,config",
    [
        ("dcn_v2", {}),
        ("umair_fps", {}),
        ("difm", {}),
        ("dcn_v2", {"batch_norm": True}),  # 0-dim buffers (num_batches_tracked)
        ("umair_fps", {"vector_components": 4}),  # the principal bases ([dim, K], a 0-dim flag) are copied
    ],
)
def test_every_old_row_keeps_its_index_and_new_rows_start_fresh(model_name, config):
    old_spec = make_spec()
    new_spec = _grown(old_spec, {"user_idx": 7, "item_idx": 5, "item_tags": 3})  # fused and bag tables grow
    torch.manual_seed(0)
    old = build_model(model_name, old_spec, {**SMALL, **config})
    old.load_state_dict({k: v + 1 for k, v in old.state_dict().items() if k.endswith(".mean")}, strict=False)
    torch.manual_seed(1)
    fresh = build_model(model_name, new_spec, {**SMALL, **config})
    state, report = grow_state(old.trainable_state(), fresh.trainable_state(), old_spec, new_spec)
    fresh.load_trainable_state(state)
    assert report.grown >= 2 and report.new_rows >= 12
    buffers = {k: v for k, v in old.state_dict().items() if k.endswith((".mean", ".basis", "num_batches_tracked"))}
    assert bool(buffers) == bool(config)
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in buffers.items())

    def rows(model, field: str, index: torch.Tensor) -> torch.Tensor:
        emb = model.embedding
        if field in emb.bags:
            return emb.bags[field].weight[index]
        position = [f.name for f in emb.categorical].index(field)
        return emb.fused.weight[emb.offsets[position] + index]

    for field, old_size in (("user_idx", 40), ("gender", 4), ("item_idx", 50), ("hour", 25), ("item_tags", 30)):
        assert torch.equal(rows(fresh, field, torch.arange(old_size)), rows(old, field, torch.arange(old_size))), field
    torch.manual_seed(1)
    untouched = build_model(model_name, new_spec, {**SMALL, **config})  # the same fresh start, nothing copied
    assert torch.equal(rows(fresh, "user_idx", torch.arange(40, 47)), rows(untouched, "user_idx", torch.arange(40, 47)))
    assert not torch.equal(rows(fresh, "user_idx", torch.arange(40)), rows(untouched, "user_idx", torch.arange(40)))


def test_a_shrunk_vocabulary_another_field_or_other_settings_are_refused():
    spec = make_spec()
    model = build_model("dcn_v2", spec, SMALL)
    smaller = _grown(spec, {"item_idx": -10})
    with pytest.raises(WarmStartError, match="item_idx 50 -> 40"):
        grow_state(model.trainable_state(), build_model("dcn_v2", smaller, SMALL).trainable_state(), spec, smaller)
    renamed = FeatureSpec([dataclasses.replace(spec.fields[0], name="member_idx"), *spec.fields[1:]])
    with pytest.raises(WarmStartError, match="fields differ"):
        grow_state(model.trainable_state(), build_model("dcn_v2", renamed, SMALL).trainable_state(), spec, renamed)
    record = {"model_name": "dcn_v2", "variant": None, "config": model.config.to_dict()}
    check_same_model(record, "dcn_v2", None, model.config.to_dict())  # the same: passes
    with pytest.raises(WarmStartError, match="dnn_hidden"):
        check_same_model(record, "dcn_v2", None, build_model("dcn_v2", spec, {"dnn_hidden": [32]}).config.to_dict())
    with pytest.raises(WarmStartError, match="trained dcn_v2"):
        check_same_model(record, "umair_fps", None, model.config.to_dict())
    # A run trained before a setting existed (its record lacks it) reads it at its default, and only then.
    older = {**record, "config": {k: v for k, v in record["config"].items() if k != "vector_l2"}}
    defaults = type(model.config)().to_dict()
    check_same_model(older, "dcn_v2", None, model.config.to_dict(), defaults)
    with pytest.raises(WarmStartError, match="vector_l2: None -> 0.0"):
        check_same_model(older, "dcn_v2", None, model.config.to_dict())  # without the defaults: a difference
    with pytest.raises(WarmStartError, match="vector_l2: 0.0 -> 0.01"):
        penalised = build_model("dcn_v2", spec, {**SMALL, "vector_l2": 0.01}).config.to_dict()
        check_same_model(older, "dcn_v2", None, penalised, defaults)
