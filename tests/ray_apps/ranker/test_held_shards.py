"""Held-in-memory training shards: each worker's rows depend on its rank and the split's order only."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from ray_apps.ranker.loop import epoch_batches


class _OrderedSplit:
    """The whole split as Ray Train hands an unsplit dataset to each worker: batches in table order."""

    def __init__(self, n: int, batch: int) -> None:
        self.n, self.batch = n, batch

    def iter_torch_batches(self, batch_size: int, prefetch_batches: int):
        for start in range(0, self.n, self.batch):  # uneven batches, whatever `batch_size` asks for
            rows = torch.arange(start, min(start + self.batch, self.n))
            yield {"label": rows.float(), "row": rows}


def test_workers_hold_disjoint_equal_shards_of_the_first_rows_whatever_the_batching():
    config = SimpleNamespace(in_memory=True, seed=3, batch_size=8)
    for n, world, batch in ((103, 2, 10), (103, 3, 7), (64, 4, 64), (5, 2, 1)):
        held = []
        for rank in range(world):
            memory: dict[str, torch.Tensor] = {}
            rows = torch.cat([b["row"] for b in epoch_batches(_OrderedSplit(n, batch), config, 0, memory, rank, world)])
            assert sorted(rows.tolist()) == sorted(memory["row"].tolist())  # one epoch = every held row once
            assert all(r % world == rank for r in rows.tolist())
            held.append(memory["row"])
        assert {len(h) for h in held} == {n // world}  # equal steps on every worker (DDP needs them)
        assert sorted(torch.cat(held).tolist()) == list(range(n // world * world))


def test_the_epoch_order_is_the_seed_s_and_changes_per_epoch():
    config = SimpleNamespace(in_memory=True, seed=3, batch_size=4)
    memory: dict[str, torch.Tensor] = {}
    first = [b["row"].tolist() for b in epoch_batches(_OrderedSplit(40, 9), config, 0, memory, 1, 2)]
    again = [b["row"].tolist() for b in epoch_batches(None, config, 0, memory, 1, 2)]
    later = [b["row"].tolist() for b in epoch_batches(None, config, 1, memory, 1, 2)]
    assert first == again and first != later
