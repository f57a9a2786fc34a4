"""Shared fixtures: small generated tasks, task files on disk, the embedded model folder."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from arccommon.paths import EMBEDDED_MODEL_DIR

ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = ROOT / EMBEDDED_MODEL_DIR

os.environ.setdefault("AXOLOTL_DO_NOT_TRACK", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def random_grid(rng: random.Random, max_side: int = 6) -> list[list[int]]:
    h, w = rng.randint(1, max_side), rng.randint(1, max_side)
    return [[rng.randint(0, 9) for _ in range(w)] for _ in range(h)]


def make_task(rng: random.Random, n_train: int = 3, n_test: int = 1, max_side: int = 6) -> dict:
    """A random task whose rule is 'flip left-right' (so outputs really follow from inputs)."""
    def pair() -> dict:
        grid = random_grid(rng, max_side)
        return {"input": grid, "output": [row[::-1] for row in grid]}

    return {"train": [pair() for _ in range(n_train)], "test": [pair() for _ in range(n_test)]}


@pytest.fixture
def task_folder(tmp_path: Path) -> Path:
    """A folder of 6 valid one-task JSON files."""
    rng = random.Random(7)
    folder = tmp_path / "tasks"
    folder.mkdir()
    for i in range(6):
        (folder / f"task{i:02d}.json").write_text(json.dumps(make_task(rng, n_test=1 + i % 2)))
    return folder


@pytest.fixture(scope="session")
def model_dir() -> Path:
    if not (MODEL_DIR / "config.json").exists():
        pytest.skip("embedded model not materialised: run `make model`")
    return MODEL_DIR
