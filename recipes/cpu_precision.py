"""The Axolotl plugin that applies the precision decision inside a CPU training run.

Why a plugin: on a CPU, transformers refuses ``bf16: true`` unless ``use_cpu`` is set, Axolotl has no ``use_cpu`` key,
and Axolotl overwrites ``ACCELERATE_MIXED_PRECISION`` from its own ``bf16`` key, so ``accelerate launch
--mixed_precision bf16`` alone is silently ignored. Plugins may add training arguments, so this one sets
``use_cpu`` and, where :func:`arccommon.precision.decide_precision` picks bf16, ``bf16`` (accelerate's autocast;
the trainable weights stay fp32, the frozen linear weights are stored in bf16: the same numbers without a cast per
matmul, :func:`arccommon.precision.freeze_linears_in_bf16`). CPU recipes list it under ``plugins``;
``python -m recipes train --mixed-precision`` passes its choice in ``ARC_CPU_PRECISION`` (bfloat16 | float32);
without it the decision is ``auto``.
"""

from __future__ import annotations

from typing import Any

from axolotl.integrations.base import BasePlugin

from arccommon.precision import decide_precision, freeze_linears_in_bf16


class CpuPrecisionPlugin(BasePlugin):
    """Adds ``use_cpu`` (and ``bf16`` when decided) to the Trainer's arguments; reports what the Trainer uses."""

    def get_training_args(self, cfg: Any) -> dict[str, Any]:
        precision = decide_precision("cpu")  # auto, or what ARC_CPU_PRECISION says
        print(f"[cpu_precision] {precision.line()}", flush=True)
        return {"use_cpu": True, "bf16": precision.dtype == "bfloat16"}

    def post_model_load(self, cfg: Any, model: Any) -> None:
        if decide_precision("cpu").dtype == "bfloat16":
            print(f"[cpu_precision] {freeze_linears_in_bf16(model)} frozen linear weights stored in bf16", flush=True)

    def post_trainer_create(self, cfg: Any, trainer: Any) -> None:
        print(f"[cpu_precision] trainer mixed_precision: {trainer.accelerator.mixed_precision}", flush=True)
