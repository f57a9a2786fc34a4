"""The ARC task type and its validation rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Grid = list[list[int]]

MAX_SIDE = 30
N_COLORS = 10


@dataclass(frozen=True)
class Pair:
    """One example: an input grid and (unless hidden) its output grid."""

    input: Grid
    output: Grid | None = None

    def to_json(self) -> dict[str, Any]:
        return {"input": self.input} if self.output is None else {"input": self.input, "output": self.output}


@dataclass(frozen=True)
class Task:
    """An ARC task: demonstration pairs (``train``) and pairs to solve (``test``)."""

    id: str
    train: list[Pair]
    test: list[Pair]
    origin: str = field(default="", compare=False)

    def to_json(self) -> dict[str, Any]:
        return {"train": [p.to_json() for p in self.train], "test": [p.to_json() for p in self.test]}

    @property
    def has_test_outputs(self) -> bool:
        return all(p.output is not None for p in self.test)

    def cells(self, with_test: bool = True) -> int:
        """Grid cells of the demonstration pairs (and the test pairs): what a prompt's length follows."""
        pairs = self.train + self.test if with_test else self.train
        return sum(len(g) * len(g[0]) for p in pairs for g in (p.input, p.output) if g)


def grid_problem(grid: Any) -> str | None:
    """Return why ``grid`` is not a valid ARC grid, or None if it is.

    Valid: a non-empty rectangular list of lists of ints 0-9, each side 1-30.
    """
    if not isinstance(grid, list) or not grid:
        return "is not a non-empty list of rows"
    if len(grid) > MAX_SIDE:
        return f"has {len(grid)} rows (max {MAX_SIDE})"
    width = None
    for r, row in enumerate(grid):
        if not isinstance(row, list) or not row:
            return f"row {r} is not a non-empty list"
        if width is None:
            width = len(row)
            if width > MAX_SIDE:
                return f"has {width} columns (max {MAX_SIDE})"
        elif len(row) != width:
            return f"is ragged (row 0 has {width} cells, row {r} has {len(row)})"
        for c, cell in enumerate(row):
            if type(cell) is not int or not 0 <= cell < N_COLORS:
                return f"cell [{r}][{c}] is {cell!r}, not an int 0-9"
    return None


def task_problems(raw: Any, require_test_outputs: bool) -> list[str]:
    """List everything wrong with a raw task dict (empty if valid)."""
    if not isinstance(raw, dict):
        return ["task is not a JSON object"]
    problems: list[str] = []
    for part in ("train", "test"):
        pairs = raw.get(part)
        if not isinstance(pairs, list) or not pairs:
            problems.append(f"needs at least one {part} pair")
            continue
        for i, pair in enumerate(pairs):
            if not isinstance(pair, dict) or "input" not in pair:
                problems.append(f"{part}[{i}] has no input")
                continue
            keys = ["input", "output"] if (part == "train" or require_test_outputs or "output" in pair) else ["input"]
            for key in keys:
                if key not in pair:
                    problems.append(f"{part}[{i}] has no {key}")
                    continue
                why = grid_problem(pair[key])
                if why:
                    problems.append(f"{part}[{i}].{key} {why}")
    return problems


def task_from_json(task_id: str, raw: dict[str, Any], origin: str = "") -> Task:
    """Build a Task from an already validated raw dict."""
    def pairs(items: list[dict[str, Any]]) -> list[Pair]:
        return [Pair(p["input"], p.get("output")) for p in items]

    return Task(task_id, pairs(raw["train"]), pairs(raw["test"]), origin)
