"""Find tasks that share a grid (by content, not by id) with another set of tasks."""

from __future__ import annotations

from typing import Iterable

from arcprep.tasks import Grid, Task


def _key(grid: Grid) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(row) for row in grid)


def task_grids(task: Task) -> Iterable[Grid]:
    """Every grid of a task: train and test inputs and outputs."""
    for pair in task.train + task.test:
        yield pair.input
        if pair.output is not None:
            yield pair.output


def leaked_tasks(reference: list[Task], candidates: list[Task], min_cells: int = 1) -> dict[str, list[str]]:
    """Map each candidate task id that shares a grid of at least ``min_cells`` cells with ``reference``
    to the sorted ids of the reference tasks it shares grids with."""
    index: dict[tuple, set[str]] = {}
    for task in reference:
        for grid in task_grids(task):
            if len(grid) * len(grid[0]) >= min_cells:
                index.setdefault(_key(grid), set()).add(task.id)
    leaks: dict[str, list[str]] = {}
    for task in candidates:
        hits: set[str] = set()
        for grid in task_grids(task):
            hits |= index.get(_key(grid), set())
        if hits:
            leaks[task.id] = sorted(hits)
    return leaks
