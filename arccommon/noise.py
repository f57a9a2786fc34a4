"""Third-party output: silence the import-time notices that say nothing about a run, and send the rest of what
libraries log or warn to a log file of the step, so the console keeps our own lines and progress bars.

Silenced, by logger and by message, as noise on every CPU run (measured): torchao cannot load its CUDA kernels
(``Failed to load ..._C_*.so``), torch's pytree warns about two of torchao's enums, and bitsandbytes cannot fetch a
CPU 4-bit kernel from the hub (offline) although nothing here is quantised on a CPU. Everything else is kept: on the
console with ``--verbose`` (``ARC_VERBOSE=1``), else in the step's log.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path
from typing import Iterator

from arccommon.cli import verbose

NOISY_LOGGERS = ("torchao", "torch.utils._pytree", "bitsandbytes.backends.cpu.ops")
NOISY_MESSAGES = (r"Skipping publisher trust check for 'kernels-community",)


def silence_known_noise() -> None:
    """Raise the noisy loggers to ERROR and ignore the noisy warnings; call before importing transformers/peft."""
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for message in NOISY_MESSAGES:
        warnings.filterwarnings("ignore", message=message)


@contextlib.contextmanager
def third_party_output(log: Path) -> Iterator[None]:
    """Inside the block, Python warnings and every library's logging (transformers' included, its weight-loading
    bars off) go to ``log`` instead of the console; with ``--verbose`` nothing changes."""
    if verbose():
        yield
        return
    import transformers.utils.logging as hf_logging

    log.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    root = logging.getLogger()
    consoles = [h for h in root.handlers if isinstance(h, logging.StreamHandler)
                and not isinstance(h, logging.FileHandler)]
    for h in consoles:
        root.removeHandler(h)
    root.addHandler(handler)
    logging.captureWarnings(True)
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_default_handler()
    hf_logging.enable_propagation()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if bars:
            hf_logging.enable_progress_bar()
        hf_logging.disable_propagation()
        hf_logging.enable_default_handler()
        logging.captureWarnings(False)
        root.removeHandler(handler)
        handler.close()
        for h in consoles:
            root.addHandler(h)
