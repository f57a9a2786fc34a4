"""Count-priors data: synthetic grids of objects and multi-turn questions about them (question 4's stage 1).

An *object* is a maximal set of cells of one non-background colour in which every cell can be reached from every
other through edge-neighbours (4-connectivity: up, down, left, right; diagonal contact does not join cells).
Cells of different colours never belong to the same object. The system prompt states this definition.

Each sample is one grid and several question/answer turns about it: how many objects, how many of a colour, the
area (cell count) of the largest and of the smallest object, and all areas in ascending order. Every answer is
computed from the finished grid by :func:`label_objects` (tests check it against ``scipy.ndimage.label``), so
shapes that happen to touch are simply one object. Same config + seed -> byte-identical JSONL.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from arccommon.errors import UserError
from arcprep.encoding import encode_grid
from arcprep.tasks import Grid
from arcprep.tokens import check_budget

COUNT_PROMPT_VERSION = "count-v1"
COUNT_SYSTEM_PROMPT = (
    "You answer questions about grids of digits 0-9, one digit per cell and one line per row. The background "
    "colour is given. An object is a group of cells of the same non-background colour joined through their "
    "edges (up, down, left, right; cells touching only at a corner are separate objects). The area of an object "
    "is its number of cells. Answer with numbers only."
)
QUESTIONS = ("count", "count_color", "largest", "smallest", "areas")


@dataclass
class CountConfig:
    """Everything that determines a count-priors dataset's bytes (recorded in its manifest)."""

    kind: str = "count_priors"
    samples: int = 1000
    seed: int = 0
    min_side: int = 3
    max_side: int = 12
    max_objects: int = 8
    max_object_area: int = 9
    other_background_prob: float = 0.2
    questions: list[str] = field(default_factory=lambda: list(QUESTIONS))
    encoding: str = "plain"
    system_prompt: str = COUNT_SYSTEM_PROMPT
    tokenizer: str | None = None
    max_tokens: int | None = None

    def check(self) -> None:
        unknown = sorted(set(self.questions) - set(QUESTIONS))
        if unknown:
            raise UserError(f"unknown count question(s) {', '.join(unknown)}; known: {', '.join(QUESTIONS)}")
        if not 1 <= self.min_side <= self.max_side <= 30:
            raise UserError("count priors need 1 <= min_side <= max_side <= 30")
        if self.samples < 1 or self.max_objects < 1 or self.max_object_area < 1:
            raise UserError("count priors need samples, max_objects and max_object_area >= 1")
        check_budget(self.max_tokens, self.tokenizer)


def label_objects(grid: Grid, background: int) -> list[tuple[int, int]]:
    """The objects of ``grid`` as (colour, area) in scan order of their first cell (4-connectivity, one colour)."""
    rows, cols = len(grid), len(grid[0])
    seen = [[False] * cols for _ in range(rows)]
    objects = []
    for r0 in range(rows):
        for c0 in range(cols):
            colour = grid[r0][c0]
            if colour == background or seen[r0][c0]:
                continue
            seen[r0][c0] = True
            stack, area = [(r0, c0)], 0
            while stack:
                r, c = stack.pop()
                area += 1
                for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
                    if 0 <= rr < rows and 0 <= cc < cols and not seen[rr][cc] and grid[rr][cc] == colour:
                        seen[rr][cc] = True
                        stack.append((rr, cc))
            objects.append((colour, area))
    return objects


def _side(rng: random.Random, lo: int, hi: int) -> int:
    """A side length in [lo, hi], smaller ones likelier (weight 1/side)."""
    sides = list(range(lo, hi + 1))
    return rng.choices(sides, weights=[1 / s for s in sides])[0]


def _shape(rng: random.Random, area: int) -> list[tuple[int, int]]:
    """A random edge-connected set of ``area`` cells, grown cell by cell from (0, 0)."""
    cells = {(0, 0)}
    while len(cells) < area:
        r, c = rng.choice(sorted(cells))
        dr, dc = rng.choice(((1, 0), (-1, 0), (0, 1), (0, -1)))
        cells.add((r + dr, c + dc))
    top, left = min(r for r, _ in cells), min(c for _, c in cells)
    return sorted((r - top, c - left) for r, c in cells)


def random_grid(rng: random.Random, cfg: CountConfig) -> tuple[Grid, int]:
    """A grid with up to ``max_objects`` shapes on a background (0, or another colour sometimes)."""
    rows, cols = _side(rng, cfg.min_side, cfg.max_side), _side(rng, cfg.min_side, cfg.max_side)
    background = rng.randrange(1, 10) if rng.random() < cfg.other_background_prob else 0
    grid = [[background] * cols for _ in range(rows)]
    palette = [c for c in range(10) if c != background]
    colours = rng.sample(palette, rng.randint(1, 4))
    for _ in range(rng.randint(1, cfg.max_objects)):
        shape = _shape(rng, rng.randint(1, min(cfg.max_object_area, rows * cols // 2 or 1)))
        height, width = 1 + max(r for r, _ in shape), 1 + max(c for _, c in shape)
        if height > rows or width > cols:
            continue
        for _attempt in range(10):  # prefer a free spot not touching same-coloured cells
            top, left = rng.randint(0, rows - height), rng.randint(0, cols - width)
            colour = rng.choice(colours)
            if all(grid[top + r][left + c] == background for r, c in shape) and not _touches(
                    grid, [(top + r, left + c) for r, c in shape], colour):
                for r, c in shape:
                    grid[top + r][left + c] = colour
                break
    if not label_objects(grid, background):  # never a grid without objects
        grid[rng.randrange(rows)][rng.randrange(cols)] = colours[0]
    return grid, background


def _touches(grid: Grid, cells: list[tuple[int, int]], colour: int) -> bool:
    rows, cols = len(grid), len(grid[0])
    return any(0 <= rr < rows and 0 <= cc < cols and grid[rr][cc] == colour
               for r, c in cells for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)))


def answers(grid: Grid, background: int, question: str, colour: int | None = None) -> str:
    """The answer text of one question about ``grid`` (numbers only)."""
    objects = label_objects(grid, background)
    areas = sorted(area for _, area in objects)
    if question == "count":
        return str(len(objects))
    if question == "count_color":
        return str(sum(1 for c, _ in objects if c == colour))
    if question == "largest":
        return str(areas[-1])
    if question == "smallest":
        return str(areas[0])
    if question == "areas":
        return " ".join(map(str, areas))
    raise ValueError(f"unknown question {question!r}")


def question_text(question: str, colour: int | None = None) -> str:
    """The user's wording of one question."""
    return {
        "count": "How many objects are there?",
        "count_color": f"How many objects of colour {colour} are there?",
        "largest": "What is the area of the largest object?",
        "smallest": "What is the area of the smallest object?",
        "areas": "List the areas of all objects in ascending order, separated by spaces.",
    }[question]


def count_sample(cfg: CountConfig, index: int) -> dict:
    """Sample ``index`` of the dataset: its own RNG seeded by (seed, index), so any sample can be rebuilt alone."""
    rng = random.Random(f"{cfg.seed}/count/{index}")
    grid, background = random_grid(rng, cfg)
    objects = label_objects(grid, background)
    present = sorted({c for c, _ in objects})
    absent = [c for c in range(10) if c != background and c not in present]
    questions = list(cfg.questions)
    rng.shuffle(questions)
    messages = [{"role": "system", "content": cfg.system_prompt}]
    for turn, question in enumerate(questions):
        colour = None
        if question == "count_color":
            colour = rng.choice(absent) if absent and rng.random() < 0.15 else rng.choice(present)
        text = question_text(question, colour)
        if turn == 0:
            text = (f"Background colour: {background}\nGrid ({len(grid)}x{len(grid[0])}):\n"
                    f"{encode_grid(grid, cfg.encoding)}\n\n{text}")
        messages.append({"role": "user", "content": text})
        messages.append({"role": "assistant", "content": answers(grid, background, question, colour)})
    return {"messages": messages, "grid": grid, "background": background,
            "objects": [[c, a] for c, a in objects]}


def objects_per_grid(samples: list[dict]) -> dict[str, int]:
    """How many grids have each number of objects (for the manifest: is the data balanced?)."""
    counts = Counter(len(s["objects"]) for s in samples)
    return {str(k): counts[k] for k in sorted(counts)}
