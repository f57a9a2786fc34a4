"""The Axolotl plugin that lets a DeepSpeed recipe train on a CPU: a gloo process group before Axolotl makes one.

Why a plugin: for a single process Axolotl 0.19 calls ``deepspeed.init_distributed(dist_backend="nccl")``
itself, which fails on a machine without NCCL ("Distributed package doesn't have NCCL built in"). DeepSpeed leaves
an existing process group alone, and Axolotl registers plugins before that call, so this one starts a gloo group
there (``DS_ACCELERATOR=cpu``, set by ``python -m recipes train``, makes DeepSpeed's CPU accelerator the one in
use; without oneCCL's bindings it falls back to gloo too). Under ``accelerate launch`` with several processes the
launcher's rank and world size are used. A CPU recipe with a ``deepspeed`` key lists it after
``recipes.cpu_precision.CpuPrecisionPlugin`` (recipes/schema.json requires it).

With several processes there is a second gap: accelerate's ``PartialState`` finds no backend for a DeepSpeed run
without CUDA (it only picks one for GPUs, or for ``cpu=True``, which turns DeepSpeed off), so every rank's Trainer
believed it was process 0 of 1: each trained on every sample (the data was not shared out, only the gradients
were averaged by DeepSpeed), and each saved the adapter to the same file, where rank 1's unfilled ZeRO-3 partition
could win (the empty saves ``recipes/zero3_save.py`` restores). ``post_trainer_create`` gives accelerate's state
the process group's rank and size before training starts, so the data loader shards, and only rank 0 saves.
"""

from __future__ import annotations

import os
from typing import Any

from axolotl.integrations.base import BasePlugin

SINGLE_PROCESS = {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1"}


class CpuDeepSpeedPlugin(BasePlugin):
    """Starts torch.distributed on gloo when the recipe uses DeepSpeed and no group exists yet."""

    def register(self, cfg: Any) -> None:
        import torch.distributed as dist

        if not cfg.get("deepspeed") or dist.is_initialized():
            return
        for key, value in SINGLE_PROCESS.items():
            os.environ.setdefault(key, value)
        if "MASTER_PORT" not in os.environ:
            from recipes.launch import free_port

            os.environ["MASTER_PORT"] = str(free_port())
        dist.init_process_group("gloo", rank=int(os.environ["RANK"]), world_size=int(os.environ["WORLD_SIZE"]))
        print(f"[cpu_deepspeed] gloo process group: rank {dist.get_rank()} of {dist.get_world_size()}", flush=True)

    def post_trainer_create(self, cfg: Any, trainer: Any) -> None:
        import torch.distributed as dist
        from accelerate.state import AcceleratorState, PartialState

        if not cfg.get("deepspeed") or not dist.is_initialized() or dist.get_world_size() == 1:
            return
        world, rank = dist.get_world_size(), dist.get_rank()
        if trainer.accelerator.num_processes == world:
            return
        seen = trainer.accelerator.num_processes
        place = {"num_processes": world, "process_index": rank,
                 "local_process_index": int(os.environ.get("LOCAL_RANK", rank))}
        for state in (PartialState._shared_state, AcceleratorState._shared_state):
            state.update(place)
        print(f"[cpu_deepspeed] accelerate saw {seen} process(es); now rank {rank} of {world} "
              f"(data shared out, rank 0 saves)", flush=True)
