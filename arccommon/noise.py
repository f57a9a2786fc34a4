"""Silence, by logger and by message, the import-time notices of third-party libraries that say nothing about a run.

Each entry is noise on every CPU run, measured: torchao cannot load its CUDA kernels (``Failed to load ..._C_*.so``),
torch's pytree warns about two of torchao's enums, and bitsandbytes cannot fetch a CPU 4-bit kernel from the hub
(offline) although nothing here is quantised on a CPU. Everything else still shows.
"""

from __future__ import annotations

import logging
import warnings

NOISY_LOGGERS = ("torchao", "torch.utils._pytree", "bitsandbytes.backends.cpu.ops")
NOISY_MESSAGES = (r"Skipping publisher trust check for 'kernels-community",)


def silence_known_noise() -> None:
    """Raise the noisy loggers to ERROR and ignore the noisy warnings; call before importing transformers/peft."""
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for message in NOISY_MESSAGES:
        warnings.filterwarnings("ignore", message=message)
