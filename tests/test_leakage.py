"""Leakage is found by grid content, not by id."""

import json
import subprocess
import sys

from arcprep.leakage import leaked_tasks
from arcprep.sources import load_source
from arcprep.tasks import Pair, Task
from tests.conftest import ROOT


def test_synthetic_leak_found_by_content():
    a = [Task("a1", [Pair([[1, 2]], [[3]])], [Pair([[5]], [[6]])])]
    b = [Task("renamed", [Pair([[9]], [[9, 9]])], [Pair([[1, 2]], [[0]])]),  # shares [[1,2]] with a1
         Task("clean", [Pair([[7]], [[7]])], [Pair([[8]], [[8]])])]
    assert leaked_tasks(a, b) == {"renamed": ["a1"]}
    assert leaked_tasks(a, b, min_cells=3) == {}


def test_arc2_eval_shares_grids_with_arc1():
    reference = load_source("train+eval").tasks
    test = load_source("test").tasks
    leaks = leaked_tasks(reference, test)
    assert 0 < len(leaks) < len(test)
    grids = {json.dumps(g) for t in reference for p in t.train + t.test for g in (p.input, p.output)}
    for task in test:
        shared = any(json.dumps(g) in grids for p in task.train + task.test for g in (p.input, p.output))
        assert shared == (task.id in leaks)


def test_cli_leakage_json():
    res = subprocess.run([sys.executable, "-m", "arcprep", "leakage", "train+eval", "test", "--json"],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert len(json.loads(res.stdout)) > 0
