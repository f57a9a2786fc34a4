"""Tiny randomly initialised models of real architectures (Llama-shaped, Phi-3-shaped), built locally.

They reuse the embedded model's tokenizer and chat template, so recipes run on them unchanged except for
``base_model``. Usage: python -m tests.tiny_models {llama,phi3} OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from tests.conftest import MODEL_DIR


def build_tiny(kind: str, out: Path, tokenizer_dir: Path = MODEL_DIR, layers: int = 2, hidden: int = 64) -> Path:
    """Write a tiny ``kind`` ('llama' or 'phi3') model + tokenizer to ``out`` (seeded: same weights every time)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, Phi3Config

    if (out / "config.json").exists():
        return out
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    common = dict(vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                  num_attention_heads=4, max_position_embeddings=8192, bos_token_id=tok.bos_token_id,
                  eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, tie_word_embeddings=True,
                  initializer_range=0.3)  # large enough that LoRA alone can make the output peaked
    config = LlamaConfig(num_key_value_heads=2, **common) if kind == "llama" else Phi3Config(num_key_value_heads=4,
                                                                                            **common)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


if __name__ == "__main__":
    build_tiny(sys.argv[1], Path(sys.argv[2]))
