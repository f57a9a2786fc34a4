"""A Predictor (and Scorer) backed by a Hugging Face model: render chat prompts, batch by length, generate greedily,
score given answers."""

from __future__ import annotations

from typing import Any

from arcprep.encoding import max_answer_tokens
from arcprep.tasks import MAX_SIDE
from evalkit.chat_template import ChatTemplate
from evalkit.generate import Generation, generate_batch


class HFPredictor(ChatTemplate):
    """Callable: conversations -> greedy Generations, in batches of similar prompt length."""

    routes_tasks = False  # one adapter at a time: evaluate() switches it per task

    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 8, max_new_tokens: int | None = None):
        super().__init__(tokenizer)
        self.model = model
        self.batch_size, self.max_new_tokens = batch_size, max_new_tokens or max_answer_tokens()

    def __call__(self, conversations: list[list[dict[str, str]]], answers: list[str | None] | None = None,
                 max_sides: list[int] | None = None) -> list[Generation]:
        """Greedy answers. With ``answers`` (the true answers' text), a batch stops past its longest true answer plus
        a trailing newline and end of turn: an answer still running there is wrong whatever follows (an answer must
        end with end of turn), so scores are unchanged and runaways end early."""
        prompts = self.render(conversations)
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        results: list[Generation | None] = [None] * len(prompts)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            cap = self.max_new_tokens
            if answers is not None and all(answers[i] is not None for i in idx):
                longest = max(len(self.encode(answers[i])) for i in idx)
                cap = min(cap, longest + 2)  # answer, newline, end of turn
            sides = [max_sides[i] for i in idx] if max_sides is not None else None
            for i, gen in zip(idx, generate_batch(self.model, self.tokenizer, [prompts[i] for i in idx], cap,
                                                  max_sides=sides)):
                results[i] = gen
        return results  # type: ignore[return-value]

    def explore(self, conversations: list[list[dict[str, str]]], threshold: float, max_candidates: int,
                max_sides: list[int] | None = None) -> list[list[Generation]]:
        """Depth-first sampling (evalkit/dfs.py): per conversation, the greedy answer and every other answer of
        probability >= ``threshold``, at most ``max_candidates``, most probable first."""
        from evalkit.dfs import Explorer, explore

        explorer = Explorer.for_tokenizer(self.tokenizer, threshold, max_candidates)
        sides = max_sides or [MAX_SIDE] * len(conversations)
        return [explore(self.model, self.tokenizer, prompt, explorer, self.max_new_tokens, side)
                for prompt, side in zip(self.render(conversations), sides)]

    def loglik(self, pairs: list[tuple[list[dict[str, str]], str]]) -> list[float]:
        """Each answer's teacher-forced log-likelihood after its conversation (a Scorer for likelihood selection)."""
        from evalkit.likelihood import answer_logliks

        prompts = self.render([messages for messages, _ in pairs])
        return answer_logliks(self.model, self.tokenizer, prompts, [answer for _, answer in pairs])
