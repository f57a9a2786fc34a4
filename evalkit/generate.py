"""Batched greedy generation restricted to grid tokens (digits, newline, end of turn), with log-probs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class Generation:
    text: str
    mean_logprob: float
    new_tokens: int


def allowed_token_ids(tokenizer: Any) -> list[int]:
    """Ids of the tokens a grid answer may use: each digit, newline, and end of turn."""
    ids = set()
    for text in [*"0123456789", "\n"]:
        encoded = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(encoded) == 1:
            ids.add(encoded[0])
    ids.add(tokenizer.eos_token_id)
    return sorted(ids)


class GridOnly:
    """Logits processor: every token outside ``allowed`` gets -inf."""

    def __init__(self, allowed: list[int], vocab_size: int, device: str):
        self.mask = torch.full((vocab_size,), float("-inf"), device=device)
        self.mask[allowed] = 0.0

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return scores + self.mask[: scores.shape[-1]]


@torch.inference_mode()
def generate_batch(model: Any, tokenizer: Any, prompts: list[str], max_new_tokens: int,
                   restrict: bool = True) -> list[Generation]:
    """Greedy answers for ``prompts`` (already rendered with the chat template) in one padded batch."""
    from transformers import LogitsProcessorList

    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    processors = LogitsProcessorList()
    if restrict:
        processors.append(GridOnly(allowed_token_ids(tokenizer), model.config.vocab_size, model.device))
    out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, logits_processor=processors,
                         output_scores=True, return_dict_in_generate=True, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    new = out.sequences[:, enc["input_ids"].shape[1]:]
    logprobs = model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
    results = []
    for row, lp in zip(new, logprobs):
        keep = (row != tokenizer.pad_token_id)
        stop = (row == tokenizer.eos_token_id).nonzero()
        n = int(stop[0]) + 1 if len(stop) else int(keep.sum())
        finite = lp[:n][torch.isfinite(lp[:n])]
        text = tokenizer.decode(row[:n], skip_special_tokens=True)
        results.append(Generation(text, float(finite.mean()) if len(finite) else float("-inf"), n))
    return results
