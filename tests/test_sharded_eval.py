"""Sharded evaluation: 1 and 2 CPU processes (accelerate launch, gloo) give byte-identical predictions and scores;
a training started from inside a launch does not inherit it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from evalkit.shards import Shard, cpu_launch
from tests.conftest import ROOT
from tests.tiny_models import build_tiny


def _evaluate(out, base, tasks, processes: int) -> subprocess.CompletedProcess:
    launch = cpu_launch(processes) if processes > 1 else [sys.executable]
    cmd = [*launch, "-m", "evalkit", "run", "--base", str(base), "--split", str(tasks), "--augmentations", "2",
           "--device", "cpu", "--dtype", "float32", "--out", str(out), "--quiet"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    return res


@pytest.mark.slow
def test_two_processes_give_the_same_predictions_as_one(tmp_path, task_folder):
    base = build_tiny("llama", tmp_path / "tiny")
    one, two = tmp_path / "one", tmp_path / "two"
    _evaluate(one, base, task_folder, 1)
    res = _evaluate(two, base, task_folder, 2)
    assert (one / "predictions.json").read_bytes() == (two / "predictions.json").read_bytes()
    a, b = (json.loads((d / "summary.json").read_text()) for d in (one, two))
    for key in ("score", "output_accuracy", "pass_at_1", "shape_accuracy", "oracle_pass_at_n", "selection",
                "generated_tokens", "n_tasks"):
        assert a[key] == b[key], key
    shards = sorted(p.name for p in two.glob("per_task*.jsonl"))
    assert shards == ["per_task.shard-0.jsonl", "per_task.shard-1.jsonl"]
    counts = [len(p.read_text().splitlines()) for p in sorted(two.glob("per_task*.jsonl"))]
    assert counts == [3, 3]  # 6 tasks dealt out interleaved
    assert res.stdout.count("report: ") == 1  # only the main process prints the merged summary
    assert (two / "report.html").exists()
    # resume: a finished sharded run redoes nothing, whatever the number of processes now
    _evaluate(two, base, task_folder, 1)
    assert (two / "predictions.json").read_bytes() == (one / "predictions.json").read_bytes()
    assert json.loads((two / "summary.json").read_text())["generated_tokens"] == 0  # nothing was predicted again


def test_a_training_started_inside_a_launch_gets_its_own_environment():
    env = {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1", "MASTER_PORT": "29500", "TORCHELASTIC_RUN_ID": "x",
           "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1", "PATH": "/bin", "CUDA_VISIBLE_DEVICES": "4,6"}
    gpu = Shard(index=1, count=2, device="cuda:1")
    own, whole = gpu.training_env(False, env), gpu.training_env(True, env)
    for child in (own, whole):
        assert child["PATH"] == "/bin"
        assert not {"WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_PORT", "TORCHELASTIC_RUN_ID",
                    "ACCELERATE_USE_CPU"} & set(child)
    assert own["CUDA_VISIBLE_DEVICES"] == "6" and whole["CUDA_VISIBLE_DEVICES"] == "4,6"
    cores = len(os.sched_getaffinity(0))
    assert whole["OMP_NUM_THREADS"] == str(cores) and own["OMP_NUM_THREADS"] == str(max(1, cores // 2))
    assert Shard().training_env(False, env) == env  # not launched: nothing to take away


def test_deal_balances_costs_and_every_shard_agrees() -> None:
    costs = {"a": 9.0, "b": 1.0, "c": 4.0, "d": 4.0, "e": 1.0, "f": 1.0}
    shares = [Shard(index=r, count=2).deal(list(costs), costs.__getitem__) for r in (0, 1)]
    assert sorted(shares[0] + shares[1]) == sorted(costs)  # each item once
    assert shares == [["a", "e"], ["b", "c", "d", "f"]]  # 10 vs 10, where every other item would give 14 vs 6
    assert Shard().deal(list(costs), costs.__getitem__) == list(costs)
