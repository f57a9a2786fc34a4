"""An adapter that a multi-process ZeRO-3 run saved empty, restored from the run's last checkpoint.

Seen here (Axolotl 0.19, transformers 5.16.1, DeepSpeed 0.19.8, 2 CPU processes over gloo) before
recipes/cpu_deepspeed.py told accelerate the process group's size: every rank believed it was process 0 and saved,
and rank 1's save (every tensor of shape (0,), its unfilled partition) sometimes landed last. That cause is fixed;
this check stays as the guard for any other path to an empty save (GPU runs have not been tried here); it costs a
header read.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from arccommon.errors import UserError
from arccommon.files import empty_tensors
from arccommon.paths import ADAPTER_WEIGHTS


def restore_empty_adapter(out_dir: Path, max_steps: int | None) -> str | None:
    """Replace ``out_dir``'s empty final adapter by its last checkpoint's (which must be at ``max_steps`` when that
    is known); returns the line to print, None when the adapter was complete. A UserError when it cannot."""
    weights = out_dir / ADAPTER_WEIGHTS
    empty = empty_tensors(weights)
    if not empty:
        return None
    checkpoints = sorted(out_dir.glob("checkpoint-*/" + ADAPTER_WEIGHTS), key=lambda p: int(p.parent.name.split("-")[1]))
    if not checkpoints or empty_tensors(checkpoints[-1]):
        raise UserError(f"{weights}: {empty} tensors saved empty (a ZeRO-3 save without gathering) and no complete "
                        "checkpoint to restore from; set save_steps to reach the last step")
    last = checkpoints[-1].parent
    step = json.loads((last / "trainer_state.json").read_text())["global_step"]
    if max_steps and step != max_steps:
        raise UserError(f"{weights}: {empty} tensors saved empty (a ZeRO-3 save without gathering); the last "
                        f"checkpoint is at step {step} of {max_steps}: set save_steps to reach the last step")
    shutil.copyfile(checkpoints[-1], weights.with_suffix(".tmp"))
    weights.with_suffix(".tmp").replace(weights)
    return f"{weights}: saved empty by ZeRO-3 ({empty} tensors); restored from {last.name} (step {step})"
