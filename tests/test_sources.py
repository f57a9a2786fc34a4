"""Loading every kind of source, and validation that names file, task and problem in one line each."""

import json
import subprocess
import sys

import pytest

from arccommon.errors import UserError
from arcprep.sources import load_source
from tests.conftest import ROOT


@pytest.mark.parametrize("source,n", [("train", 400), ("eval", 400), ("arc2/train", 1000), ("test", 120)])
def test_bundled_splits(source, n):
    loaded = load_source(source, require_test_outputs=True)
    assert len(loaded.tasks) == n
    assert all(t.has_test_outputs for t in loaded.tasks)


def test_joined_sources():
    assert len(load_source("train+eval").tasks) == 800


def test_folder_and_single_file(task_folder):
    assert [t.id for t in load_source(str(task_folder)).tasks] == [f"task{i:02d}" for i in range(6)]
    assert load_source(str(task_folder / "task03.json")).tasks[0].id == "task03"


def test_kaggle_challenges_with_solutions(tmp_path, task_folder):
    tasks = {p.stem: json.loads(p.read_text()) for p in sorted(task_folder.glob("*.json"))}
    challenges = {tid: {"train": t["train"], "test": [{"input": p["input"]} for p in t["test"]]}
                  for tid, t in tasks.items()}
    (tmp_path / "x_challenges.json").write_text(json.dumps(challenges))
    loaded = load_source(str(tmp_path / "x_challenges.json"))
    assert not any(t.has_test_outputs for t in loaded.tasks)
    with pytest.raises(UserError, match="has no output"):
        load_source(str(tmp_path / "x_challenges.json"), require_test_outputs=True)
    solutions = {tid: [p["output"] for p in t["test"]] for tid, t in tasks.items()}
    (tmp_path / "x_solutions.json").write_text(json.dumps(solutions))
    loaded = load_source(str(tmp_path / "x_challenges.json"), require_test_outputs=True)
    assert all(t.has_test_outputs for t in loaded.tasks)
    assert loaded.tasks[0].test[0].output == tasks["task00"]["test"][0]["output"]


BAD = {
    "ragged": {"train": [{"input": [[1, 2], [3]], "output": [[1]]}], "test": [{"input": [[1]], "output": [[1]]}]},
    "color": {"train": [{"input": [[1, 12]], "output": [[1]]}], "test": [{"input": [[1]], "output": [[1]]}]},
    "notrain": {"train": [], "test": [{"input": [[1]], "output": [[1]]}]},
    "big": {"train": [{"input": [[0] * 31], "output": [[1]]}], "test": [{"input": [[1]], "output": [[1]]}]},
    "empty": {"train": [{"input": [], "output": [[1]]}], "test": [{"input": [[1]], "output": [[1]]}]},
    "float": {"train": [{"input": [[1.0]], "output": [[1]]}], "test": [{"input": [[1]]}]},
}


def test_each_problem_is_reported(tmp_path):
    for name, raw in BAD.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(raw))
    with pytest.raises(UserError) as err:
        load_source(str(tmp_path), require_test_outputs=True)
    lines = str(err.value).splitlines()
    assert len(lines) == len(BAD) + 1  # 'float' also lacks a test output
    assert any("ragged.json:ragged: train[0].input is ragged" in line for line in lines)
    assert any("color.json:color: train[0].input cell [0][1] is 12" in line for line in lines)
    assert any("notrain: needs at least one train pair" in line for line in lines)
    assert any("big: train[0].input has 31 columns" in line for line in lines)
    assert any("float: test[0] has no output" in line for line in lines)


def test_skip_invalid(tmp_path, task_folder):
    (task_folder / "zzbad.json").write_text(json.dumps(BAD["ragged"]))
    loaded = load_source(str(task_folder), skip_invalid=True)
    assert len(loaded.tasks) == 6 and len(loaded.skipped) == 1 and "zzbad" in loaded.skipped[0]


def run_cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "arcprep", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_validate_rejects_cleanly(tmp_path):
    (tmp_path / "bad.json").write_text(json.dumps(BAD["ragged"]))
    (tmp_path / "broken.json").write_text("{not json")
    res = run_cli("validate", str(tmp_path / "bad.json"), str(tmp_path / "broken.json"), "nosuchsplit")
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 3
    assert "bad.json:bad: train[0].input is ragged" in lines[0]
    assert "broken.json: not valid JSON" in lines[1]
    assert "nosuchsplit: no such file or folder" in lines[2]


def test_cli_validate_ok(task_folder):
    res = run_cli("validate", str(task_folder), "eval")
    assert res.returncode == 0, res.stderr
    assert "6 tasks" in res.stdout and "400 tasks" in res.stdout


def test_cli_help_everywhere():
    for sub in ([], ["validate"], ["leakage"], ["build"], ["data"], ["model"]):
        res = run_cli(*sub, "--help")
        assert res.returncode == 0 and "usage" in res.stdout
