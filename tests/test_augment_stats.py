"""Statistics of sampled augmentations over many samples, not just that each transform inverts.

Guards against the published bug where the train/test swap always fired and the real test output
was never a target.
"""

import random
from collections import Counter

from arcprep.augment import DIHEDRAL
from arcprep.build import BuildConfig
from arcprep.tasks import Pair, Task


def _tasks(n: int, n_train: int = 4) -> list[Task]:
    rng = random.Random(0)
    grid = lambda: [[rng.randint(0, 9) for _ in range(3)] for _ in range(3)]  # noqa: E731
    return [Task(f"t{i:03d}", [Pair(grid(), grid()) for _ in range(n_train)], [Pair(grid(), grid())])
            for i in range(n)]


def _draw(cfg: BuildConfig, tasks: list[Task]):
    return [(copy, cfg.policy.draw(t, copy, 0)) for t in tasks for copy in range(cfg.copies)]


def test_dihedral_exactly_balanced_per_task():
    cfg = BuildConfig(source="-", augment=["dihedral"], copies=16)
    for task in _tasks(20):
        counts = Counter(cfg.policy.draw(task, c, 0).dihedral for c in range(16))
        assert counts == {name: 2 for name in DIHEDRAL}


def test_copy_zero_is_the_original_task():
    cfg = BuildConfig(source="-", augment=["dihedral", "color", "swap", "shuffle"], copies=4)
    for task in _tasks(50):
        assert cfg.policy.draw(task, 0, 0).is_identity


def test_swap_rate_and_targets():
    cfg = BuildConfig(source="-", augment=["swap"], copies=11, swap_prob=0.5)
    draws = [aug for copy, aug in _draw(cfg, _tasks(400)) if copy > 0]
    swapped = [a.swap for a in draws if a.swap is not None]
    rate = len(swapped) / len(draws)
    assert 0.46 < rate < 0.54, rate  # 4000 draws: 4 sigma is about 0.03
    per_index = Counter(swapped)
    assert set(per_index) == {0, 1, 2, 3}
    assert max(per_index.values()) / min(per_index.values()) < 1.25
    # The real test output is the target in about half the augmented copies and in every copy 0.
    assert len(draws) - len(swapped) > 0.4 * len(draws)


def test_swap_never_fires_at_prob_zero():
    cfg = BuildConfig(source="-", augment=["swap"], copies=8, swap_prob=0.0)
    assert all(a.swap is None for _, a in _draw(cfg, _tasks(100)))


def test_color_permutations_uniform_and_background_kept():
    cfg = BuildConfig(source="-", augment=["color"], copies=21)
    draws = [a for copy, a in _draw(cfg, _tasks(300)) if copy > 0]
    assert all(a.colors[0] == 0 for a in draws)
    where_1_goes = Counter(a.colors[1] for a in draws)
    assert set(where_1_goes) == set(range(1, 10))
    expected = len(draws) / 9
    assert all(abs(n - expected) < 0.2 * expected for n in where_1_goes.values())


def test_background_permuted_at_requested_rate():
    cfg = BuildConfig(source="-", augment=["color"], copies=21, keep_background_prob=0.8)
    draws = [a for copy, a in _draw(cfg, _tasks(300)) if copy > 0]
    moved = sum(a.colors[0] != 0 for a in draws) / len(draws)
    # background permuted with prob 0.2, and then lands on a non-zero colour with prob 0.9
    assert 0.15 < moved < 0.21, moved


def test_shuffle_orders_uniform():
    cfg = BuildConfig(source="-", augment=["shuffle"], copies=25)
    draws = [a for copy, a in _draw(cfg, _tasks(200, n_train=3)) if copy > 0]
    counts = Counter(tuple(a.order) for a in draws)
    assert len(counts) == 6
    assert max(counts.values()) / min(counts.values()) < 1.25


def test_same_seed_same_draws_other_seed_differs():
    tasks = _tasks(10)
    a = BuildConfig(source="-", augment=["dihedral", "color", "swap", "shuffle"], copies=8, seed=1)
    b = BuildConfig(source="-", augment=["dihedral", "color", "swap", "shuffle"], copies=8, seed=2)
    assert [x.to_json() for _, x in _draw(a, tasks)] == [x.to_json() for _, x in _draw(a, tasks)]
    assert [x.to_json() for _, x in _draw(a, tasks)] != [x.to_json() for _, x in _draw(b, tasks)]
