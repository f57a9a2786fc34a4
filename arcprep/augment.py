"""Task augmentations with exact inverses (the 8 dihedral transforms, colour permutations, train/test swap and
train-order shuffle) and the policy that draws them (:class:`AugmentPolicy`).

This is the one place augmentation lives; arcprep (training data) and evalkit (test-time augmentation and
reverting predictions) both import it. Every augmentation is plain data (:class:`Augmentation`) stored with each
sample and each prediction.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable

from arccommon.errors import UserError
from arcprep.tasks import Grid, Pair, Task

_DIHEDRAL: dict[str, Callable[[Grid], Grid]] = {
    "identity": lambda g: [list(r) for r in g],
    "rot90": lambda g: [list(r) for r in zip(*g[::-1])],  # clockwise
    "rot180": lambda g: [list(r[::-1]) for r in g[::-1]],
    "rot270": lambda g: [list(r) for r in zip(*g)][::-1],  # counter-clockwise
    "flip_lr": lambda g: [list(r[::-1]) for r in g],  # mirror left-right
    "flip_ud": lambda g: [list(r) for r in g[::-1]],  # mirror top-bottom
    "transpose": lambda g: [list(r) for r in zip(*g)],  # main diagonal
    "antitranspose": lambda g: [list(r[::-1]) for r in zip(*g)][::-1],  # anti-diagonal
}
DIHEDRAL: tuple[str, ...] = tuple(_DIHEDRAL)
DIHEDRAL_INVERSE = {name: name for name in DIHEDRAL} | {"rot90": "rot270", "rot270": "rot90"}
IDENTITY_COLORS: tuple[int, ...] = tuple(range(10))
AUGMENTS: tuple[str, ...] = ("dihedral", "color", "swap", "shuffle")
# At test time the test output is unknown, so a train pair can never trade places with it: no swap.
TEST_TIME_AUGMENTS: tuple[str, ...] = ("dihedral", "color", "shuffle")


def dihedral(grid: Grid, name: str) -> Grid:
    """Apply the dihedral transform ``name`` (one of :data:`DIHEDRAL`) to ``grid``."""
    try:
        return _DIHEDRAL[name](grid)
    except KeyError:
        raise ValueError(f"unknown dihedral transform {name!r}; known: {', '.join(DIHEDRAL)}") from None


def recolor(grid: Grid, colors: list[int] | tuple[int, ...]) -> Grid:
    """Map every cell ``c`` to ``colors[c]``."""
    return [[colors[c] for c in row] for row in grid]


def invert_colors(colors: list[int] | tuple[int, ...]) -> list[int]:
    """The inverse permutation of ``colors``."""
    inverse = [0] * len(colors)
    for src, dst in enumerate(colors):
        inverse[dst] = src
    return inverse


def random_colors(rng: random.Random, keep_background: bool = True) -> list[int]:
    """A uniformly random permutation of the 10 colours; colour 0 stays 0 when ``keep_background``."""
    movable = list(range(1, 10)) if keep_background else list(range(10))
    shuffled = movable[:]
    rng.shuffle(shuffled)
    mapping = dict(zip(movable, shuffled))
    return [mapping.get(c, c) for c in range(10)]


@dataclass
class Augmentation:
    """Everything done to one sample, as data.

    Applied in this order: ``swap`` (train pair ``swap`` trades places with the test pair),
    ``order`` (train pairs reordered: new position i holds old pair ``order[i]``), then every grid
    gets ``dihedral`` followed by ``colors``. Reverting a predicted output undoes colours, then
    the dihedral transform (exact reverse order); swap and order do not change grids.
    """

    dihedral: str = "identity"
    colors: list[int] = field(default_factory=lambda: list(IDENTITY_COLORS))
    swap: int | None = None
    order: list[int] | None = None

    def apply_grid(self, grid: Grid) -> Grid:
        return recolor(dihedral(grid, self.dihedral), self.colors)

    def invert_grid(self, grid: Grid) -> Grid:
        return dihedral(recolor(grid, invert_colors(self.colors)), DIHEDRAL_INVERSE[self.dihedral])

    def apply_pairs(self, train: list[Pair], test: Pair) -> tuple[list[Pair], Pair]:
        """Return the augmented (train pairs, test pair)."""
        train = list(train)
        if self.swap is not None:
            train[self.swap], test = test, train[self.swap]
        if self.order is not None:
            train = [train[i] for i in self.order]

        def pair(p: Pair) -> Pair:
            return Pair(self.apply_grid(p.input), None if p.output is None else self.apply_grid(p.output))

        return [pair(p) for p in train], pair(test)

    @property
    def is_identity(self) -> bool:
        return (self.dihedral == "identity" and tuple(self.colors) == IDENTITY_COLORS and self.swap is None
                and (self.order is None or self.order == sorted(self.order)))

    def to_json(self) -> dict[str, Any]:
        return {"dihedral": self.dihedral, "colors": list(self.colors), "swap": self.swap, "order": self.order}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Augmentation":
        return cls(data.get("dihedral", "identity"), list(data.get("colors", IDENTITY_COLORS)),
                   data.get("swap"), data.get("order"))


@dataclass(frozen=True)
class AugmentPolicy:
    """Which augmentations to draw and how, for training data (arcprep) and test-time views (evalkit) alike."""

    augment: tuple[str, ...] = ()
    seed: int = 0
    keep_original: bool = True
    swap_prob: float = 0.5
    keep_background_prob: float = 1.0

    def check(self) -> None:
        unknown = sorted(set(self.augment) - set(AUGMENTS))
        if unknown:
            raise UserError(f"unknown augmentation(s) {', '.join(unknown)}; known: {', '.join(AUGMENTS)}")
        if not 0 <= self.swap_prob <= 1 or not 0 <= self.keep_background_prob <= 1:
            raise UserError("probabilities must lie in [0, 1]")

    def draw(self, task: Task, copy: int, test_index: int) -> Augmentation:
        """The augmentation of one (task, copy, test output), drawn from an RNG seeded by exactly those.

        Dihedral transforms cycle through a per-task permutation of all 8, so ``copies`` = 8m gives each
        transform m times; with ``keep_original`` copy 0 is the unaugmented task (its real test output is
        always a target) and the identity transform leads the cycle.
        """
        if self.keep_original and copy == 0:
            return Augmentation()
        rng = random.Random(f"{self.seed}/{task.id}/{test_index}/{copy}")
        aug = Augmentation()
        if "dihedral" in self.augment:
            cycle = list(DIHEDRAL[1:]) if self.keep_original else list(DIHEDRAL)
            random.Random(f"{self.seed}/{task.id}/{test_index}/dihedral").shuffle(cycle)
            if self.keep_original:
                cycle.insert(0, "identity")
            aug.dihedral = cycle[copy % len(cycle)]
        if "color" in self.augment:
            aug.colors = random_colors(rng, keep_background=rng.random() < self.keep_background_prob)
        n_train = len(task.train)
        if "swap" in self.augment and rng.random() < self.swap_prob:
            aug.swap = rng.randrange(n_train)
        if "shuffle" in self.augment:
            aug.order = rng.sample(range(n_train), n_train)
        return aug
