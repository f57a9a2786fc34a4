"""Choose the two attempts of each test output from its candidates, by vote or by likelihood across views.

Candidates are the parsed answers of every view (augmented prompt) of one test output, reverted to the task's own
frame. ``vote``: the grid most views produced first, ties to the higher mean log-probability of its generation.
``likelihood``: every distinct grid is scored teacher-forced under every view (the grid carried into the view's
frame), and the highest sum over views of its answer's log-likelihood wins; vote count breaks ties. The attempts
are always two: fallback grids (the test input, else 1x1 grids) fill the places no candidate took, so a
predictions.json is a complete submission.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from arcprep.tasks import Grid
from evalkit.scoring import ATTEMPT_KEYS

SELECTIONS = ("vote", "likelihood")


@dataclass
class Option:
    """One distinct candidate grid of a test output: how many views produced it, how confidently, how likely."""

    grid: Grid
    votes: int
    mean_logprob: float
    loglik: float | None = None  # sum over views of the answer's log-likelihood (None: not scored)

    @property
    def key(self) -> str:
        return json.dumps(self.grid)


def options(candidates: list[dict[str, Any]], test_index: int) -> list[Option]:
    """The distinct valid grids among the candidates of one test output, in order of first appearance."""
    pool: dict[str, Option] = {}
    logprobs: dict[str, list[float]] = {}
    for c in candidates:
        if c["test_index"] != test_index or c["grid"] is None:
            continue
        key = json.dumps(c["grid"])
        if key not in pool:
            pool[key], logprobs[key] = Option(c["grid"], 0, 0.0), []
        pool[key].votes += 1
        logprobs[key].append(c["mean_logprob"])
    for key, option in pool.items():
        option.mean_logprob = sum(logprobs[key]) / len(logprobs[key])
    return list(pool.values())


RANKINGS: dict[str, Callable[[Option], tuple]] = {
    "vote": lambda o: (-o.votes, -o.mean_logprob),
    "likelihood": lambda o: (-(o.loglik if o.loglik is not None else 0.0), -o.votes, -o.mean_logprob),
}


def rank(pool: list[Option], mode: str) -> list[Grid]:
    """The grids of ``pool`` best first under ``mode`` (vote | likelihood)."""
    return [o.grid for o in sorted(pool, key=RANKINGS[mode])]


def fill_attempts(ranked: list[Grid], test_input: Grid) -> list[Grid]:
    """Exactly two attempts: the best two ranked grids, then fallbacks (the test input, 1x1 grids) not yet used."""
    attempts = list(ranked[:len(ATTEMPT_KEYS)])
    for fallback in (test_input, [[0]], [[1]]):
        if len(attempts) < len(ATTEMPT_KEYS) and fallback not in attempts:
            attempts.append(fallback)
    return attempts
