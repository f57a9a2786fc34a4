"""The one place that decides the device and the numeric precision, for training and evaluation alike, and says why.

GPUs: bf16 (published ARC work saw fp16 training diverge, and bf16-trained models give NaNs served in fp16).
CPUs differ: with avx512_bf16 or AMX, PyTorch's bf16 kernels are fast (a LoRA step of SmolLM2-135M ran 1.5-2.2x
faster under bf16 autocast than fp32 on two such CPUs); without them a bf16 matmul takes a slow path
(``python bench/cpu_matmul.py`` on an AVX2-only CPU: 0.11x fp32). So ``auto`` decides per machine, unless
``ARC_CPU_PRECISION`` (bfloat16 | float32) says otherwise for CPUs: e.g. float32 to run as a CPU without bf16
instructions would, or to compare.

Under bf16 autocast a LoRA training keeps its trainable weights in fp32, but a frozen linear weight gets cast to bf16
by every matmul that uses it, forward and backward (autocast caches casts of trainable leaves only). Storing the
frozen linear weights in bf16 up front (:func:`freeze_linears_in_bf16`) gives the same matmul inputs, so the same
numbers, without those copies.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CPUINFO = Path("/proc/cpuinfo")
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
DTYPES = ("bfloat16", "float32")
CPU_PRECISION_ENV = "ARC_CPU_PRECISION"  # auto | bfloat16 | float32: what `auto` means on a CPU (training and eval)


@dataclass(frozen=True)
class Precision:
    """A decided dtype (``bfloat16`` or ``float32``) and the reason, for the log."""

    dtype: str
    reason: str

    def line(self) -> str:
        return f"precision: {self.dtype} ({self.reason})"


def cpu_bf16_flags(cpuinfo: Path | None = None) -> list[str]:
    """Which of the bf16 instruction flags this CPU reports (empty when none, or /proc/cpuinfo is unreadable)."""
    try:
        words = set((cpuinfo or CPUINFO).read_text(encoding="utf-8", errors="replace").split())
    except OSError:
        return []
    return [flag for flag in BF16_CPU_FLAGS if flag in words]


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when a CUDA GPU is visible, else ``cpu``; any other value is kept."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def decide_precision(device: str, requested: str = "auto") -> Precision:
    """``requested`` (auto | bfloat16 | float32) for ``device`` (cpu, cuda, cuda:N, ...) -> a Precision."""
    if requested != "auto":
        if requested not in DTYPES:
            raise ValueError(f"unknown precision {requested!r}; known: auto, {', '.join(DTYPES)}")
        return Precision(requested, "asked for")
    if not device.startswith("cpu"):
        import torch

        if device.startswith("cuda") and torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
            return Precision("float32", f"{device} has no bf16 support (fp16 is avoided: it diverged in ARC training)")
        return Precision("bfloat16", f"{device}: accelerators train and serve in bf16")
    forced = os.environ.get(CPU_PRECISION_ENV, "auto")
    if forced != "auto":
        if forced not in DTYPES:
            raise ValueError(f"{CPU_PRECISION_ENV}={forced!r}: expected auto, {', '.join(DTYPES)}")
        return Precision(forced, f"{CPU_PRECISION_ENV}={forced}")
    flags = cpu_bf16_flags()
    if flags:
        return Precision("bfloat16", f"this CPU has {'/'.join(flags)}: bf16 kernels are fast")
    return Precision("float32", "this CPU lacks avx512_bf16/amx_bf16: bf16 matmuls take a slow path "
                                "(bench/cpu_matmul.py)")


def freeze_linears_in_bf16(model: Any) -> int:
    """Store every frozen ``nn.Linear`` weight of ``model`` in bf16 (not one tied to the input embeddings, which
    also feed non-autocast ops); returns how many. For training under bf16 autocast only: each such weight is cast
    to bf16 by every matmul anyway, so results are unchanged (tests/test_precision.py) and the casts are saved."""
    import torch

    embeddings = model.get_input_embeddings().weight if hasattr(model, "get_input_embeddings") else None
    done = 0
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if (isinstance(module, torch.nn.Linear) and weight is not None and not weight.requires_grad
                and weight is not embeddings and weight.dtype == torch.float32):
            module.weight.data = weight.data.to(torch.bfloat16)
            done += 1
    return done
