"""Batched greedy generation restricted to grid tokens (digits, newline, end of turn), with log-probs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from arcprep.tasks import MAX_SIDE


@dataclass
class Generation:
    text: str
    mean_logprob: float
    new_tokens: int
    finished: bool = True  # ended with end of turn (False: cut off by the cap or RaggedStop)


def allowed_token_ids(tokenizer: Any) -> list[int]:
    """Ids of the tokens a grid answer may use: each digit, newline, and end of turn."""
    return sorted({*_single_token_ids(tokenizer, [*"0123456789", "\n"]), tokenizer.eos_token_id})


class GridOnly:
    """Logits processor: every token outside ``allowed`` gets -inf."""

    def __init__(self, allowed: list[int], vocab_size: int, device: str):
        self.mask = torch.full((vocab_size,), float("-inf"), device=device)
        self.mask[allowed] = 0.0

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return scores + self.mask[: scores.shape[-1]]


class RaggedStop:
    """Stopping criterion: a sequence is done once its answer can no longer parse as a grid.

    A row longer than ``max_side`` cells (30, or a bound per sequence), more rows than that, or a finished row whose
    length differs from the first row's:
    the strict parser would reject the answer whatever follows, so generating on only burns time (runaways).
    """

    def __init__(self, prompt_len: int, digit_ids: list[int], newline_id: int, max_side: int | list[int] = MAX_SIDE):
        self.prompt_len, self.newline = prompt_len, newline_id
        self.max_side = torch.tensor(max_side)  # one bound for all sequences, or one per sequence
        self.digits = torch.tensor(digit_ids)
        self.state: dict[str, torch.Tensor] | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        n = input_ids.shape[0]
        if self.state is None:
            zeros = torch.zeros(n, dtype=torch.long, device=input_ids.device)
            self.state = {"row": zeros.clone(), "first": zeros - 1, "rows": zeros.clone(),
                          "dead": torch.zeros(n, dtype=torch.bool, device=input_ids.device)}
        st, last = self.state, input_ids[:, -1]
        if input_ids.shape[1] <= self.prompt_len:
            return st["dead"].clone()
        digit = torch.isin(last, self.digits.to(last.device))
        newline = last == self.newline
        finished = newline & (st["row"] > 0)
        ragged = finished & (st["first"] >= 0) & (st["row"] != st["first"])
        st["first"] = torch.where(finished & (st["first"] < 0), st["row"], st["first"])
        st["rows"] += finished.long()
        st["row"] = torch.where(digit, st["row"] + 1, torch.where(newline, 0, st["row"]))
        side = self.max_side.to(last.device)
        st["dead"] |= ragged | (st["row"] > side) | (st["rows"] > side)
        return st["dead"].clone()


def _single_token_ids(tokenizer: Any, texts: list[str]) -> list[int]:
    ids = []
    for text in texts:
        encoded = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(encoded) == 1:
            ids.append(encoded[0])
    return ids


@torch.inference_mode()
def generate_batch(model: Any, tokenizer: Any, prompts: list[str], max_new_tokens: int,
                   restrict: bool = True, max_sides: list[int] | None = None,
                   **generate_kwargs: Any) -> list[Generation]:
    """Greedy answers for ``prompts`` (already rendered with the chat template) in one padded batch.

    ``max_sides[i]`` bounds the rows and columns of answer i (default 30).

    ``generate_kwargs`` go to ``model.generate`` (e.g. ``cache_implementation="static"``).
    """
    from transformers import LogitsProcessorList, StoppingCriteriaList

    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    processors, stops = LogitsProcessorList(), StoppingCriteriaList()
    if restrict:
        processors.append(GridOnly(allowed_token_ids(tokenizer), model.config.vocab_size, model.device))
        newline = _single_token_ids(tokenizer, ["\n"])
        if newline:
            stops.append(RaggedStop(enc["input_ids"].shape[1], _single_token_ids(tokenizer, [*"0123456789"]),
                                    newline[0], max_sides if max_sides is not None else MAX_SIDE))
    out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, logits_processor=processors,
                         stopping_criteria=stops, output_scores=True, return_dict_in_generate=True,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         **generate_kwargs)
    new = out.sequences[:, enc["input_ids"].shape[1]:]
    logprobs = model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
    results = []
    for row, lp in zip(new, logprobs):
        keep = (row != tokenizer.pad_token_id)
        stop = (row == tokenizer.eos_token_id).nonzero()
        n = int(stop[0]) + 1 if len(stop) else int(keep.sum())
        finite = lp[:n][torch.isfinite(lp[:n])]
        text = tokenizer.decode(row[:n], skip_special_tokens=True)
        results.append(Generation(text, float(finite.mean()) if len(finite) else float("-inf"), n, bool(len(stop))))
    return results
