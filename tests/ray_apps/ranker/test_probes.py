"""Linear probes of item vectors: an attribute the vectors hold is read back from held-out items; one
they do not hold scores about the majority-class rate."""

from __future__ import annotations

import numpy as np

from ray_apps.ranker.auc_budget import where_auc_goes
from ray_apps.ranker.probes import probe_accuracy


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


def test_the_section_gives_the_lost_lift_and_a_row_per_modality():
    probe = {"accuracy": 0.8, "majority": 0.25, "items": 40}
    probes = {"e_sty": {a: probe for a in ("style", "subject", "series")}}
    lines = "\n".join(where_auc_goes(("UMAIR-FPS", 0.66), 0.71, 0.75, probes))
    assert lines.startswith("## Where the AUC goes")
    assert "Lost to the ceiling: 0.0500 AUC, 24% of the learnable lift" in lines
    assert "| e_STY (style) | 0.800 (0.250) | 0.800 (0.250) | 0.800 (0.250) | 40 |" in lines
    assert "Needs the sample site's raw zone" in "\n".join(where_auc_goes(None, None, None, None))
