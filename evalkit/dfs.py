"""Depth-first sampling: every grid answer whose probability is at least a threshold, not only the greedy one.

For one prompt, the greedy answer is decoded first; at each of its steps, every other grid token whose path
probability (the prefix's times its own) still reaches ``threshold`` opens a branch, which is decoded greedily in
turn and branches the same way, most probable branch first. With an unlimited budget this finds every answer of
probability >= threshold (each such answer's first step off a decoded path opens a branch that reaches it); the
greedy answer is always kept, so the candidates are a superset of greedy decoding's. Probabilities are those of
the grid-only distribution (digits, newline, end of turn: evalkit/generate.py's GridOnly), and a branch that can no
longer parse as a grid (RaggedStop's rule) is dropped. The prompt's KV cache is computed once and cropped back to
it for every branch.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Any

import torch

from arcprep.tasks import MAX_SIDE
from evalkit.generate import Generation, RaggedStop, _single_token_ids, allowed_token_ids


@dataclass(frozen=True)
class Explorer:
    """The grid tokens of one tokenizer and the search's limits."""

    allowed: torch.Tensor  # token ids a grid answer may use
    eos: int
    digits: list[int]
    newline: int
    threshold: float
    max_candidates: int
    max_decodes: int  # branches decoded at most (each costs a greedy decode), the greedy answer included

    @classmethod
    def for_tokenizer(cls, tokenizer: Any, threshold: float, max_candidates: int,
                      max_decodes: int | None = None) -> "Explorer":
        newline = _single_token_ids(tokenizer, ["\n"])
        if not newline:
            raise ValueError("depth-first sampling needs a tokenizer with a newline token")
        return cls(torch.tensor(allowed_token_ids(tokenizer)), tokenizer.eos_token_id,
                   _single_token_ids(tokenizer, [*"0123456789"]), newline[0], threshold, max_candidates,
                   max_decodes or 4 * max_candidates)


@torch.inference_mode()
def explore(model: Any, tokenizer: Any, prompt: str, explorer: Explorer, max_new_tokens: int,
            max_side: int = MAX_SIDE) -> list[Generation]:
    """The answers to ``prompt`` (rendered with the chat template) of probability >= ``explorer.threshold``: the
    greedy answer first (kept whatever its probability), then the others most probable first. At most
    ``explorer.max_candidates`` answers and ``explorer.max_decodes`` greedy decodes; branches are taken most probable
    prefix first, so a cap keeps the likeliest branches. ``mean_logprob`` is per token, as in greedy generation."""
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"].to(model.device)
    out = model(input_ids=ids, use_cache=True)
    search = _Search(model, out.past_key_values, ids.shape[1], explorer, max_new_tokens, max_side)
    found: list[Generation] = []
    branches: list[tuple[float, int, list[int]]] = []
    root = search.descend([], 0.0, _grid_logprobs(out.logits[0, -1], explorer), branches, root=True)
    found.append(_generation(tokenizer, *root, explorer))  # type: ignore[misc]  (the root always returns)
    decoded = 1
    while branches and len(found) < explorer.max_candidates and decoded < explorer.max_decodes:
        neg_logp, _, prefix = heapq.heappop(branches)
        result = search.resume(prefix, -neg_logp, branches)
        decoded += prefix[-1] != explorer.eos
        if result is None:
            continue
        generation = _generation(tokenizer, *result, explorer)
        if all(g.text != generation.text for g in found):
            found.append(generation)
    return found[:1] + sorted(found[1:], key=lambda g: -g.mean_logprob * g.new_tokens)


def _generation(tokenizer: Any, answer: list[int], logp: float, explorer: Explorer) -> Generation:
    finished = bool(answer) and answer[-1] == explorer.eos
    return Generation(tokenizer.decode(answer, skip_special_tokens=True), logp / max(len(answer), 1), len(answer),
                      finished)


def _grid_logprobs(logits: torch.Tensor, explorer: Explorer) -> torch.Tensor:
    """Log-probabilities over the grid tokens only (``explorer.allowed`` order)."""
    return torch.log_softmax(logits.float()[explorer.allowed.to(logits.device)], dim=-1).cpu()


class _Search:
    """One prompt's search state: the model, the KV cache holding the prompt (and the path being decoded)."""

    def __init__(self, model: Any, cache: Any, prompt_len: int, explorer: Explorer, max_new_tokens: int,
                 max_side: int):
        self.model, self.cache, self.prompt_len, self.explorer = model, cache, prompt_len, explorer
        self.max_new_tokens, self.max_side = max_new_tokens, max_side
        self.floor = math.log(explorer.threshold)
        self.opened = 0  # branches pushed so far (the heap's tie-break: first opened, first explored)

    def _next(self, tokens: list[int]) -> torch.Tensor:
        logits = self.model(input_ids=torch.tensor([tokens], device=self.model.device), past_key_values=self.cache,
                            use_cache=True).logits[0, -1]
        return _grid_logprobs(logits, self.explorer)

    def resume(self, prefix: list[int], logp: float, branches: list) -> tuple[list[int], float] | None:
        """Decode the branch ``prefix`` (path log-probability ``logp``); an end-of-turn branch is already whole."""
        if prefix[-1] == self.explorer.eos:
            return (prefix, logp) if self._stop_after(prefix) is not None else None
        self.cache.crop(self.prompt_len)
        return self.descend(prefix, logp, self._next(prefix), branches)

    def _stop_after(self, tokens: list[int]) -> RaggedStop | None:
        """RaggedStop fed ``tokens``, ready for the next; None when they can no longer parse as a grid."""
        stop = RaggedStop(0, self.explorer.digits, self.explorer.newline, self.max_side)
        return None if any(bool(stop(torch.tensor([[t]]), None)[0]) for t in tokens) else stop

    def descend(self, prefix: list[int], logp: float, logprobs: torch.Tensor, branches: list,
                root: bool = False) -> tuple[list[int], float] | None:
        """Greedy from ``prefix`` (its next-token log-probs ``logprobs``), pushing every other token that keeps the
        path at or above the threshold onto ``branches``. Returns the whole answer and its log-probability, or None
        when it fell below the threshold (except at the ``root``), could no longer parse, or ran past the cap."""
        ex = self.explorer
        stop = self._stop_after(prefix)
        if stop is None:
            return None
        tokens = list(prefix)
        while len(tokens) < self.max_new_tokens:
            best = int(torch.argmax(logprobs))
            for alt in torch.nonzero(logp + logprobs >= self.floor).flatten().tolist():
                if alt != best:
                    heapq.heappush(branches, (-(logp + float(logprobs[alt])), self.opened,
                                              tokens + [int(ex.allowed[alt])]))
                    self.opened += 1
            token, logp = int(ex.allowed[best]), logp + float(logprobs[best])
            tokens.append(token)
            if logp < self.floor and not root:
                return None  # every answer through here is below the threshold
            if token == ex.eos:
                return tokens, logp
            if bool(stop(torch.tensor([[token]]), None)[0]):
                return None if not root else (tokens, logp)
            logprobs = self._next([token])
        return None if not root else (tokens, logp)
