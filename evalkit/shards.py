"""Sharded evaluation: under ``accelerate launch --num_processes N`` each process predicts every N-th task.

Tasks are dealt out interleaved (process r takes tasks r, r+N, r+2N, ...), so long and short tasks spread over the
processes. Each process appends to its own ``per_task.shard-R.jsonl``; the main process waits for all, then merges
every per-task file of the folder into the usual outputs. Launched without accelerate (or with one process) this is
a no-op: one shard holding every task. Processes meet through torch.distributed (gloo on a CPU, NCCL on GPUs),
which accelerate's PartialState sets up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")


@dataclass
class Shard:
    """This process's place among the evaluation processes."""

    index: int = 0
    count: int = 1
    device: str | None = None  # the process's own device when launched distributed
    barrier: Callable[[], None] = lambda: None

    @property
    def is_main(self) -> bool:
        return self.index == 0

    def mine(self, items: Sequence[T]) -> list[T]:
        """This shard's share of ``items``: every ``count``-th, starting at ``index``."""
        return list(items[self.index::self.count])


def current_shard(device: str) -> Shard:
    """The shard of this process: from the launcher's WORLD_SIZE / RANK, else the only shard."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Shard()
    from accelerate import PartialState

    state = PartialState(cpu=device.startswith("cpu"))
    own = "cpu" if device.startswith("cpu") else str(state.device)
    return Shard(state.process_index, state.num_processes, own, state.wait_for_everyone)
