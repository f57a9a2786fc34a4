"""Grid <-> text encodings, shared by arcprep and evalkit.

``plain``: one line of digits per row (one token per cell and per newline with SmolLM2's tokenizer).
``shape``: a ``rows x cols`` line, then the plain rows; the model states the output size first.
Parsing is strict: ragged, empty or non-digit text is rejected with :class:`GridParseError`, never fixed.
"""

from __future__ import annotations

import re
from typing import Callable

from arcprep.tasks import MAX_SIDE, Grid


class GridParseError(ValueError):
    """Text that is not a well-formed grid in the expected encoding."""


_ROW = re.compile(r"[0-9]+")


_DIGITS = bytes.maketrans(bytes(range(10)), b"0123456789")


def _plain_encode(grid: Grid) -> str:
    return "\n".join(bytes(row).translate(_DIGITS).decode("ascii") for row in grid)


def _plain_decode(text: str) -> Grid:
    body = text.rstrip()
    if not body:
        raise GridParseError("empty answer")
    rows = body.split("\n")
    for i, row in enumerate(rows):
        if not _ROW.fullmatch(row):
            raise GridParseError(f"row {i} is not a run of digits: {row[:40]!r}")
    width = len(rows[0])
    if any(len(r) != width for r in rows):
        raise GridParseError("ragged rows")
    if len(rows) > MAX_SIDE or width > MAX_SIDE:
        raise GridParseError(f"grid {len(rows)}x{width} exceeds {MAX_SIDE}x{MAX_SIDE}")
    return [[int(ch) for ch in row] for row in rows]


def _shape_encode(grid: Grid) -> str:
    return f"{len(grid)}x{len(grid[0])}\n" + _plain_encode(grid)


_SHAPE = re.compile(r"([0-9]{1,2})x([0-9]{1,2})")


def _shape_decode(text: str) -> Grid:
    header, _, body = text.partition("\n")
    match = _SHAPE.fullmatch(header)
    if not match:
        raise GridParseError(f"missing 'rows x cols' line: {header[:40]!r}")
    grid = _plain_decode(body)
    if (len(grid), len(grid[0])) != (int(match[1]), int(match[2])):
        raise GridParseError(f"header says {header} but grid is {len(grid)}x{len(grid[0])}")
    return grid


ENCODINGS: dict[str, tuple[Callable[[Grid], str], Callable[[str], Grid]]] = {
    "plain": (_plain_encode, _plain_decode),
    "shape": (_shape_encode, _shape_decode),
}


def _codec(encoding: str) -> tuple[Callable[[Grid], str], Callable[[str], Grid]]:
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise ValueError(f"unknown encoding {encoding!r}; known: {', '.join(ENCODINGS)}") from None


def encode_grid(grid: Grid, encoding: str = "plain") -> str:
    """Grid -> text in ``encoding``."""
    return _codec(encoding)[0](grid)


def decode_grid(text: str, encoding: str = "plain") -> Grid:
    """Text -> grid; raises GridParseError on anything that is not exactly a grid (trailing whitespace allowed)."""
    return _codec(encoding)[1](text)


def max_answer_chars(encoding: str = "plain") -> int:
    """Length in characters of the largest possible answer (30x30) in ``encoding``: a cap for generation."""
    return len(encode_grid([[0] * MAX_SIDE] * MAX_SIDE, encoding))


def max_answer_tokens(encoding: str = "plain") -> int:
    """Generation cap in tokens: one per character of the largest answer (digits and newlines are single tokens
    in the chat tokenizers used here) plus the end of turn: 930 for ``plain``."""
    return max_answer_chars(encoding) + 1
