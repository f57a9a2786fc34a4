"""Vote candidates (already reverted to the original task's frame) into ranked attempts."""

from __future__ import annotations

import json
from typing import Any


def vote(candidates: list[tuple[Any, float]], attempts: int = 2) -> list[Any]:
    """Rank distinct valid grids by how many predictions agree; ties go to the higher mean log-probability.

    ``candidates``: (grid or None for an unparseable answer, mean log-prob of its tokens).
    Returns at most ``attempts`` grids.
    """
    tally: dict[str, list[Any]] = {}
    for grid, logprob in candidates:
        if grid is None:
            continue
        key = json.dumps(grid)
        if key not in tally:
            tally[key] = [grid, 0, []]
        tally[key][1] += 1
        tally[key][2].append(logprob)
    ranked = sorted(tally.values(), key=lambda v: (-v[1], -sum(v[2]) / len(v[2])))
    return [grid for grid, _, _ in ranked[:attempts]]
