"""Linear probes of item vectors: an attribute the vectors hold is read back from held-out items; one
they do not hold scores about the majority-class rate."""

from __future__ import annotations

import numpy as np

from ray_apps.ranker.auc_budget import where_auc_goes
from ray_apps.ranker.oracle_vectors import write_oracle_vectors
from ray_apps.ranker.probes import code_recovery, lake_probes, probe_accuracy


def test_a_probe_reads_an_attribute_the_vectors_hold_and_not_one_they_do_not():
    rng = np.random.default_rng(0)
    n = 1000
    y = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    held_out = np.arange(n) % 5 == 0
    holding = np.eye(3)[y] @ rng.normal(size=(3, 16)) + 0.3 * rng.normal(size=(n, 16))
    found = probe_accuracy(holding, y, held_out)
    assert found["items"] == held_out.sum() and found["accuracy"] > 0.95
    assert found["majority"] == np.bincount(y[held_out]).max() / held_out.sum()
    noise = probe_accuracy(rng.normal(size=(n, 16)), y, held_out)
    assert abs(noise["accuracy"] - noise["majority"]) < 0.1


def test_the_code_reading_tells_one_point_per_class_from_classes_that_are_only_separable():
    """Eight classes around a circle in a plane (padded with small noise to 16 dims): a linear probe
    separates them, yet no linear map of the vectors gives each class a code of its own, which is
    what the ranker's Linear needs; the same classes as one-hot points read back at R^2 1."""
    rng = np.random.default_rng(0)
    n = 2000
    y = rng.integers(0, 8, n)
    held_out = np.arange(n) % 5 == 0
    angle = 2 * np.pi * y / 8 + 0.05 * rng.normal(size=n)
    circle = np.concatenate([np.stack([np.cos(angle), np.sin(angle)], 1), 0.01 * rng.normal(size=(n, 14))], 1)
    separable = probe_accuracy(circle, y, held_out)
    assert separable["accuracy"] > 0.95 and separable["code_r2"] < 0.4
    points = np.eye(8)[y] @ rng.normal(size=(8, 16)) + 0.05 * rng.normal(size=(n, 16))
    assert code_recovery(points, y, held_out) > 0.98
    assert abs(code_recovery(rng.normal(size=(n, 64)), y, held_out)) < 0.05


def test_the_section_gives_the_lost_lift_and_a_row_per_modality():
    probe = {"accuracy": 0.8, "majority": 0.25, "items": 40, "code_r2": 0.5}
    probes = {"e_sty": {a: probe for a in ("style", "subject", "series")}}
    lines = "\n".join(where_auc_goes(("UMAIR-FPS", 0.66, 0.70), 0.71, 0.75, probes, [("UMAIR-FPS", 0.66, 0.70)]))
    assert lines.startswith("## Where the AUC goes")
    assert "Lost to the ceiling: 0.0500 AUC, 24% of the learnable lift" in lines
    assert "| UMAIR-FPS | 0.6600 | 0.7000 | +0.0400 | +0.0100 |" in lines  # encoder part, ranker part
    cell = "0.800 (0.250), R^2 0.50"
    assert f"| e_STY (style) | {cell} | {cell} | {cell} | 40 |" in lines
    assert "Needs the sample site's raw zone" in "\n".join(where_auc_goes(None, None, None, None))


def test_on_the_tiny_site_true_one_hot_attributes_probe_at_1_and_random_vectors_at_the_majority_rate(
    tiny_site, tiny_lake
):
    import pyarrow.dataset as ds

    raw, _ = tiny_site
    lake, _ = tiny_lake
    probes = lake_probes(lake, raw, write_oracle_vectors(raw, str(lake)))  # the oracle-vectors control's table
    assert probes is not None
    assert probes["e_sty"]["style"]["accuracy"] == 1.0 and probes["e_sem"]["subject"]["accuracy"] == 1.0
    assert probes["e_sty"]["style"]["code_r2"] > 0.99 and probes["e_sem"]["subject"]["code_r2"] > 0.99
    assert probes["e_sty"]["style"]["items"] > 0
    truth = ds.dataset(raw / "oracle_items").to_table(columns=["style", "subject"]).to_pandas()
    held_out = np.arange(len(truth)) % 5 == 0
    noise = np.random.default_rng(0).normal(size=(len(truth), 32))
    for attribute in ("style", "subject"):
        random = probe_accuracy(noise, truth[attribute].to_numpy(), held_out)
        assert random["accuracy"] < random["majority"] + 0.1, (attribute, random)
