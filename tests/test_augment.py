"""Every augmentation has an exact inverse (property-based), and dihedral transforms match numpy."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from arcprep.augment import DIHEDRAL, DIHEDRAL_INVERSE, Augmentation, dihedral, invert_colors, random_colors, recolor
from arcprep.tasks import Pair

grids = st.integers(1, 30).flatmap(
    lambda h: st.integers(1, 30).flatmap(
        lambda w: st.lists(st.lists(st.integers(0, 9), min_size=w, max_size=w), min_size=h, max_size=h)))
permutations = st.permutations(list(range(10)))

NUMPY = {
    "identity": lambda a: a,
    "rot90": lambda a: np.rot90(a, -1),
    "rot180": lambda a: np.rot90(a, 2),
    "rot270": lambda a: np.rot90(a, 1),
    "flip_lr": np.fliplr,
    "flip_ud": np.flipud,
    "transpose": lambda a: a.T,
    "antitranspose": lambda a: np.rot90(a, 2).T,
}


@settings(max_examples=200)
@given(grids, st.sampled_from(DIHEDRAL))
def test_dihedral_inverse(grid, name):
    assert dihedral(dihedral(grid, name), DIHEDRAL_INVERSE[name]) == grid


@settings(max_examples=100)
@given(grids, st.sampled_from(DIHEDRAL))
def test_dihedral_matches_numpy(grid, name):
    assert dihedral(grid, name) == NUMPY[name](np.array(grid)).tolist()


def test_eight_distinct_transforms():
    grid = [[1, 2, 3], [4, 5, 6]]
    assert len({str(dihedral(grid, name)) for name in DIHEDRAL}) == 8


@settings(max_examples=200)
@given(grids, permutations)
def test_color_inverse(grid, perm):
    assert recolor(recolor(grid, perm), invert_colors(perm)) == grid


@settings(max_examples=200)
@given(grids, st.sampled_from(DIHEDRAL), permutations)
def test_augmentation_invert_grid(grid, name, perm):
    aug = Augmentation(dihedral=name, colors=perm)
    assert aug.invert_grid(aug.apply_grid(grid)) == grid


@given(st.randoms(use_true_random=False), st.booleans())
def test_random_colors_is_permutation(rng, keep):
    colors = random_colors(rng, keep_background=keep)
    assert sorted(colors) == list(range(10))
    if keep:
        assert colors[0] == 0


@given(st.lists(grids, min_size=4, max_size=4), st.integers(0, 2), st.permutations([0, 1, 2]))
def test_swap_and_order(gs, swap, order):
    train = [Pair(gs[0], gs[0]), Pair(gs[1], gs[1]), Pair(gs[2], gs[2])]
    test = Pair(gs[3], gs[3])
    aug = Augmentation(swap=swap, order=list(order))
    new_train, new_test = aug.apply_pairs(train, test)
    assert new_test == train[swap]
    pool = list(train)
    pool[swap] = test
    assert new_train == [pool[i] for i in order]


def test_augmentation_json_roundtrip():
    aug = Augmentation("rot90", [0, 2, 1, 3, 4, 5, 6, 7, 8, 9], 1, [1, 0])
    assert Augmentation.from_json(aug.to_json()) == aug
    assert Augmentation().is_identity and not aug.is_identity
