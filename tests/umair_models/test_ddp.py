"""Every UMAIR-FPS variant trains under 2-process DDP (gloo on loopback): no parameter may go
without a gradient (the old w/o UMCM built a user tower it never used, and DDP refused it)."""

from __future__ import annotations

import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from tests.umair_models.conftest import item_tables, make_batch, make_spec
from umair_models.models import build_model
from umair_models.models.umair_fps import VARIANTS

SMALL = {"dnn_hidden": [16], "modality_dim": 8}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _one_step_per_variant(rank: int, world: int, port: int, out: dict) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    failures = {}
    for variant in VARIANTS:
        torch.manual_seed(0)
        model = build_model("umair_fps", make_spec(), SMALL, variant=variant)
        for name, (vectors, present) in item_tables().items():
            model.load_pretrained(name, vectors, present)
        ddp = DistributedDataParallel(model)  # find_unused_parameters=False: an unused parameter fails backward
        batch = make_batch(16, seed=rank)
        try:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(ddp(batch), torch.ones(16))
            loss.backward()
            ddp(make_batch(16, seed=rank + 10)).sum().backward()  # a second step: DDP checks the first reduction here
        except RuntimeError as err:
            failures[variant] = str(err).splitlines()[0]
    out[rank] = failures
    dist.destroy_process_group()


def test_every_variant_trains_a_step_under_two_process_ddp():
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_one_step_per_variant, args=(2, _free_port(), out), nprocs=2, join=True)
        assert dict(out) == {0: {}, 1: {}}
