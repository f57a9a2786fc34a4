"""Teacher-forced log-likelihood of given answers under a causal LM: the score behind likelihood selection."""

from __future__ import annotations

from typing import Any

import torch

from evalkit.generate import allowed_token_ids


@torch.inference_mode()
def answer_logliks(model: Any, tokenizer: Any, prompts: list[str], answers: list[str],
                   restrict: bool = True) -> list[float]:
    """Sum of the log-probabilities of each answer's tokens and the end of turn after its prompt.

    ``prompts`` are rendered with the chat template (generation prompt included), ``answers`` are the grid text.
    With ``restrict`` the distribution is renormalised over the grid tokens (digits, newline, end of turn), the
    same restriction generation decodes under. Each distinct prompt is run once; its KV cache is then reused for
    every answer to it (cut back to the prompt after each), so scoring K candidates costs one prompt pass, not K.
    """
    allowed = torch.tensor(allowed_token_ids(tokenizer), device=model.device) if restrict else None
    groups: dict[str, list[int]] = {}
    for i, prompt in enumerate(prompts):
        groups.setdefault(prompt, []).append(i)
    results: list[float] = [0.0] * len(prompts)
    for prompt, members in groups.items():
        head = torch.tensor([tokenizer(prompt, add_special_tokens=False)["input_ids"]], device=model.device)
        out = model(input_ids=head, use_cache=True, logits_to_keep=1)
        first, cache = out.logits[0, -1:].float(), out.past_key_values
        for i in members:
            tail = torch.tensor(tokenizer(answers[i], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id],
                                device=model.device)
            step = first
            if len(tail) > 1:  # the answer's own tokens predict the rest of it
                rest = model(input_ids=tail[None, :-1], past_key_values=cache, use_cache=True).logits[0].float()
                step = torch.cat([first, rest])
                cache.crop(-(len(tail) - 1))  # back to the prompt alone
            results[i] = _picked(step, tail, allowed)
    return results


def _picked(logits: torch.Tensor, tokens: torch.Tensor, allowed: torch.Tensor | None) -> float:
    """Sum over positions of log p(token) from ``logits`` (one row per token), optionally over ``allowed`` only."""
    if allowed is None:
        return float(torch.log_softmax(logits, dim=-1).gather(1, tokens[:, None]).sum())
    if not torch.isin(tokens, allowed).all():
        return float("-inf")  # a token outside the grid alphabet cannot be generated
    logp = torch.log_softmax(logits[:, allowed], dim=-1)
    index = (tokens[:, None] == allowed[None, :]).float().argmax(-1)
    return float(logp.gather(1, index[:, None]).sum())
