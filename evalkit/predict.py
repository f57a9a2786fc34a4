"""Predict one task: prompts under N augmentations (views), parse strictly, revert to the task's frame."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

from arcprep.augment import TEST_TIME_AUGMENTS, Augmentation, AugmentPolicy
from arcprep.encoding import GridParseError, decode_grid
from arcprep.prompt import chat_messages
from arcprep.tasks import MAX_SIDE, Pair, Task
from arcprep.tokens import trim_to_budget
from evalkit.generate import Generation
from recipes.record import PromptSettings


class Predictor(Protocol):
    """Conversations -> one greedy Generation each; ``max_sides[i]`` bounds the rows and columns of answer i."""

    def __call__(self, conversations: list[list[dict[str, str]]], *,
                 max_sides: list[int] | None = None) -> list[Generation]: ...


class Scorer(Protocol):
    """(conversation, answer text) pairs -> the answer's teacher-forced log-likelihood (end of turn included)."""

    def __call__(self, pairs: list[tuple[list[dict[str, str]], str]]) -> list[float]: ...


@dataclass
class WorkItem:
    """One view of one test input: its augmentation, its prompt, and the largest answer it may be given."""

    task_id: str
    test_index: int
    augmentation: Augmentation
    messages: list[dict[str, str]]
    n_train: int
    max_side: int = MAX_SIDE


def answer_side_limit(task: Task) -> int:
    """The longest answer side worth generating, read from what the model is shown (no truth used): twice the
    longest side of any demonstration grid or test input, at most 30. No test output of ARC-AGI-1 train/eval or
    ARC-AGI-2 train/eval exceeds it (2,078 outputs), and it stops an untrained model's runaway answers early."""
    shown = [g for p in task.train for g in (p.input, p.output) if g] + [p.input for p in task.test]
    return min(MAX_SIDE, 2 * max(max(len(g), len(g[0])) for g in shown))


def work_items(task: Task, n_augmentations: int, seed: int, settings: PromptSettings,
               count: Callable[[list[dict[str, str]]], int] | None = None,
               max_prompt_tokens: int | None = None) -> list[WorkItem]:
    """One prompt per (test input, augmentation). Augmentation 0 is the task as given."""
    policy = AugmentPolicy(TEST_TIME_AUGMENTS, seed)
    limit = answer_side_limit(task)
    items = []
    for t, test in enumerate(task.test):
        hidden = Pair(test.input)  # the model never sees the answer
        for copy in range(n_augmentations):
            aug = policy.draw(task, copy, t)
            train, query = aug.apply_pairs(task.train, hidden)
            kept = len(train)
            if count is not None and max_prompt_tokens is not None:
                def length(k: int) -> int:
                    return count(chat_messages(train[:k], query, settings.encoding, settings.system_prompt,
                                               False, settings.prompt_format))
                fit = trim_to_budget(len(train), length, max_prompt_tokens)
                kept = fit[0] if fit else 1
            messages = chat_messages(train[:kept], query, settings.encoding, settings.system_prompt, False,
                                     settings.prompt_format)
            items.append(WorkItem(task.id, t, aug, messages, kept, limit))
    return items


def revert(item: WorkItem, generation: Generation, encoding: str) -> dict[str, Any]:
    """Parse an answer strictly and undo its augmentation; an unparseable or cut-off answer stays None."""
    try:
        if not generation.finished:
            raise GridParseError("no end of turn: cut off")
        grid = item.augmentation.invert_grid(decode_grid(generation.text, encoding))
        error = None
    except GridParseError as exc:
        grid, error = None, str(exc)
    return {"test_index": item.test_index, "augmentation": item.augmentation.to_json(), "grid": grid,
            "mean_logprob": generation.mean_logprob, "text": generation.text, "parse_error": error,
            "new_tokens": generation.new_tokens}
