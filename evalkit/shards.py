"""The processes of one ``accelerate launch --num_processes N``: which share of the work is this process's, a
barrier, and the environment for a training this process starts on its own.

Work is dealt out interleaved (process r takes items r, r+N, r+2N, ...), so long and short tasks spread over the
processes. Launched without accelerate (or with one process) there is one shard holding everything and the barrier
does nothing. Processes meet through a gloo process group (accelerate's PartialState), on GPUs too: a process only
ever waits there, and waiting in gloo costs its GPU nothing, while an NCCL barrier would keep a kernel spinning on
the GPU that a training started by another process is using.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, Mapping, Sequence, TypeVar

T = TypeVar("T")

# A process may wait at a barrier for as long as another one trains (hours at the gpu scale); torch.distributed's
# default of 30 minutes would end the run there. A process that fails ends the others through the launcher.
BARRIER_TIMEOUT = timedelta(days=3)

# What a launcher (torchrun, under accelerate launch) gives each process. A training started from inside such a
# process must not inherit it, or its own accelerate launch would join the enclosing process group.
LAUNCH_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "GROUP_WORLD_SIZE",
                    "ROLE_RANK", "ROLE_WORLD_SIZE", "ROLE_NAME", "MASTER_ADDR", "MASTER_PORT",
                    "TORCH_NCCL_ASYNC_ERROR_HANDLING", "OMP_NUM_THREADS")
LAUNCH_PREFIXES = ("TORCHELASTIC_", "ACCELERATE_")


@dataclass
class Shard:
    """This process's place among the processes of a launch."""

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

    def deal(self, items: Sequence[T], cost: Callable[[T], float]) -> list[T]:
        """This shard's share of ``items`` balanced by ``cost``: the costliest first, each to the shard with the
        least so far (ties to the lower index), so every shard computes the same split; in ``items`` order."""
        loads, owner = [0.0] * self.count, {}
        for i in sorted(range(len(items)), key=lambda i: -cost(items[i])):
            shard = min(range(self.count), key=lambda r: loads[r])
            loads[shard] += cost(items[i])
            owner[i] = shard
        return [item for i, item in enumerate(items) if owner[i] == self.index]

    def label(self) -> str:
        """'' alone, else ' (process R/N)' for messages."""
        return "" if self.count == 1 else f" (process {self.index + 1}/{self.count})"

    def training_env(self, whole_machine: bool, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment for a training this process launches: without the enclosing launch's variables, with
        every CPU core and GPU when ``whole_machine`` (the others wait meanwhile), else this process's share of the
        cores and its own GPU only."""
        env = dict(os.environ if env is None else env)
        if self.count == 1:
            return env
        child = {k: v for k, v in env.items() if k not in LAUNCH_VARIABLES and not k.startswith(LAUNCH_PREFIXES)}
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        child["OMP_NUM_THREADS"] = str(cores if whole_machine else max(1, cores // self.count))
        if not whole_machine and self.device and self.device.startswith("cuda:"):
            gpu = int(self.device.split(":")[1])  # an index among the visible GPUs
            visible = env.get("CUDA_VISIBLE_DEVICES")
            child["CUDA_VISIBLE_DEVICES"] = visible.split(",")[gpu] if visible else str(gpu)
        return child


def cpu_launch(processes: int, threads: int = 1) -> list[str]:
    """The command prefix (before ``-m MODULE``) that starts ``processes`` CPU processes meeting over gloo, with
    ``threads`` threads each, through accelerate's multi-process launcher."""
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
            "--num_cpu_threads_per_process", str(threads)]


def current_shard(device: str) -> Shard:
    """The shard of this process: from the launcher's WORLD_SIZE / RANK, else the only shard. ``device`` is the
    resolved evaluation device ('cpu' or 'cuda...'); a process of a multi-GPU launch gets its own GPU (processes
    share GPUs round-robin when there are more processes than GPUs)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Shard()
    import torch
    from accelerate import PartialState

    state = PartialState(cpu=True, timeout=BARRIER_TIMEOUT)  # gloo: see the module docstring
    gpus = torch.cuda.device_count() if device.startswith("cuda") else 0
    own = f"cuda:{state.local_process_index % gpus}" if gpus else "cpu"
    return Shard(state.process_index, state.num_processes, own, state.wait_for_everyone)
