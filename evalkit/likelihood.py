"""Teacher-forced log-likelihood of given answers under a causal LM: the score behind likelihood selection."""

from __future__ import annotations

from typing import Any

import torch

from evalkit.generate import allowed_token_ids


@torch.inference_mode()
def answer_logliks(model: Any, tokenizer: Any, prompts: list[str], answers: list[str], batch_size: int = 1,
                   restrict: bool = True) -> list[float]:
    """Sum of the log-probabilities of each answer's tokens and the end of turn after its prompt.

    ``prompts`` are rendered with the chat template (generation prompt included), ``answers`` are the grid text.
    With ``restrict`` the distribution is renormalised over the grid tokens (digits, newline, end of turn), the
    same restriction generation decodes under. Sequences of similar length are batched, left-padded with
    explicit position ids, so a batch gives the same numbers as one sequence at a time (up to float rounding).
    """
    allowed = torch.tensor(allowed_token_ids(tokenizer), device=model.device) if restrict else None
    seqs = []
    for prompt, answer in zip(prompts, answers):
        head = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        tail = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        seqs.append((head, tail))
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i][0]) + len(seqs[i][1]))
    results: list[float] = [0.0] * len(seqs)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        width = max(len(seqs[i][0]) + len(seqs[i][1]) for i in idx)
        ids = torch.full((len(idx), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            full = seqs[i][0] + seqs[i][1]
            ids[row, width - len(full):] = torch.tensor(full)
            mask[row, width - len(full):] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        keep = max(len(seqs[i][1]) for i in idx) + 1
        logits = model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device),
                       position_ids=positions.to(model.device), logits_to_keep=keep).logits.float()
        for row, i in enumerate(idx):
            tail = torch.tensor(seqs[i][1], device=model.device)
            step = logits[row, -len(tail) - 1:-1]  # the positions that predict each answer token
            if allowed is not None:
                logp = torch.log_softmax(step[:, allowed], dim=-1)
                index = (tail[:, None] == allowed[None, :]).float().argmax(-1)
                picked = logp.gather(1, index[:, None]).squeeze(1)
                picked[~torch.isin(tail, allowed)] = float("-inf")  # a token outside the grid alphabet
            else:
                picked = torch.log_softmax(step, dim=-1).gather(1, tail[:, None]).squeeze(1)
            results[i] = float(picked.sum())
    return results
