"""Load the base model (+ LoRA adapter) and find the prompt settings the adapter was trained with."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arcprep.errors import ArcPrepError
from arcprep.prompt import SYSTEM_PROMPT

TRAINING_RECORD = "arcprep_training.json"


@dataclass
class PromptSettings:
    encoding: str = "plain"
    system_prompt: str = SYSTEM_PROMPT
    source: str = "defaults"


def resolve_base(adapter: Path | None, base: str | None) -> str:
    """The base model: from the adapter's own config; ``base`` must agree with it when both are given."""
    if adapter is None:
        if not base:
            raise ArcPrepError("give --adapter DIR, or --base MODEL to score a model without an adapter")
        return base
    config = adapter / "adapter_config.json"
    if not config.exists():
        raise ArcPrepError(f"{adapter}: no adapter here (adapter_config.json missing)")
    recorded = json.loads(config.read_text(encoding="utf-8")).get("base_model_name_or_path")
    if base and recorded and Path(base).resolve() != Path(recorded).resolve() and base != recorded:
        raise ArcPrepError(f"{adapter}: trained on base {recorded}, not {base}")
    chosen = base or recorded
    if not chosen:
        raise ArcPrepError(f"{adapter}: adapter_config.json names no base model; pass --base")
    if not Path(chosen).exists() and chosen.startswith(("models/", "./", "/", "out/")):
        raise ArcPrepError(f"{chosen}: base model folder missing (run `make model`)")
    return chosen


def prompt_settings(adapter: Path | None) -> PromptSettings:
    """Encoding and system prompt recorded beside the adapter at training time (defaults for a bare base)."""
    if adapter is None or not (adapter / TRAINING_RECORD).exists():
        return PromptSettings()
    record = json.loads((adapter / TRAINING_RECORD).read_text(encoding="utf-8"))
    datasets = [d for d in record.get("datasets", []) if d.get("encoding")]
    if not datasets:
        return PromptSettings()
    first = datasets[-1]  # the last stage's data decides the prompt format
    return PromptSettings(first["encoding"], first.get("system_prompt") or SYSTEM_PROMPT, str(adapter / TRAINING_RECORD))


def cpu_has_fast_bf16() -> bool:
    """True when the CPU has bf16 matrix instructions (avx512_bf16 / amx_bf16); without them a bf16 matmul in
    PyTorch falls back to a slow path (python bench/cpu_matmul.py on an AVX2-only CPU: 0.11x fp32)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_dtype(dtype: str, device: str) -> str:
    """``auto`` -> bfloat16 on an accelerator or a CPU with bf16 instructions, else float32."""
    if dtype != "auto":
        return dtype
    return "bfloat16" if not device.startswith("cpu") or cpu_has_fast_bf16() else "float32"


def load_model(base: str, adapter: Path | None, device: str = "cpu", dtype: str = "auto") -> tuple[Any, Any]:
    """(model in eval mode, tokenizer with left padding). The adapter's own tokenizer is preferred."""
    import torch

    dtype = resolve_dtype(dtype, device)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok_dir = adapter if adapter is not None and (adapter / "tokenizer_config.json").exists() else base
    try:
        tokenizer = AutoTokenizer.from_pretrained(tok_dir)
        model = AutoModelForCausalLM.from_pretrained(base, dtype=getattr(torch, dtype))
    except OSError as exc:
        raise ArcPrepError(f"{base}: cannot load model ({str(exc).splitlines()[0]})") from None
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
        model = model.merge_and_unload()
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        raise ArcPrepError(f"{tok_dir}: tokenizer has no pad token")
    return model.to(device).eval(), tokenizer
