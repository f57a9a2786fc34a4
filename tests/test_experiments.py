"""The experiment matrix end to end on a tiny local model: real datasets, real Axolotl runs, real evalkit scoring,
results table + loss PNG, and a re-run that redoes nothing."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml

from arccommon.errors import UserError
from arcprep.sources import load_source
from evalkit.run import finished_tasks
from evalkit.shards import cpu_launch
from experiments.__main__ import default_results
from experiments.plan import load_matrix, make_plan, make_scale, smallest
from experiments.results import other_formats, per_task_table
from recipes.record import TRAINING_RECORD
from tests.conftest import ROOT
from tests.tiny_models import build_tiny


def test_plan_orders_runs_and_limits_the_reference() -> None:
    matrix = load_matrix()
    scale = make_scale(matrix, "demo", {"tasks": 3})
    plan = make_plan(matrix, scale, ["count_train"])
    assert [r.name for r in plan.runs] == ["count", "count_train"]
    plan = make_plan(matrix, scale, ["base", "train"])
    assert {r.name: r.evaluate for r in plan.runs} == {"base": ["train", "eval"], "train": ["train", "eval"]}
    assert all(len(plan.tasks[s]) == 3 for s in ("train", "eval", "test"))
    with pytest.raises(UserError, match="unknown run"):
        make_plan(matrix, scale, ["nope"])
    with pytest.raises(UserError, match="unknown scale"):
        make_scale(matrix, "huge", {})


def test_smallest_tasks_are_the_fewest_cells() -> None:
    tasks = load_source("train").tasks
    chosen = smallest(tasks, 5)
    cells = lambda t: sum(len(g) * len(g[0]) for p in t.train + t.test for g in (p.input, p.output))  # noqa: E731
    assert max(map(cells, chosen)) <= min(cells(t) for t in tasks if t not in chosen)
    following = smallest(tasks, 5, skip=5)  # the held-out set the demo's settings are chosen on
    ids = lambda ts: [t.id for t in ts]  # noqa: E731
    assert not set(ids(following)) & set(ids(chosen))
    assert ids(smallest(tasks, 10)) == sorted(ids(chosen + following))


def test_results_header_names_runs_prompted_in_another_format() -> None:
    results = {"base": {"eval": {"eval": {"prompt_format": "single"}, "train": None}},
               "train": {"eval": {"eval": {"prompt_format": "multiturn"}}}, "count": {"eval": {}}}
    assert other_formats(results, "multiturn").startswith(" (`base` prompted single: ")
    assert other_formats(results, "single") == (" (`train` prompted multiturn: evalkit prompts as the adapter was "
                                                "trained, a model without one in its default format)")
    assert other_formats({"train": results["train"]}, "multiturn") == ""


def test_held_out_tasks_and_ttt_learning_rate_from_the_command_line(tmp_path) -> None:
    matrix = load_matrix()
    scale = make_scale(matrix, "demo", {"tasks": 2, "skip_tasks": 8})
    plan = make_plan(matrix, scale, ["ttt_eval"])
    assert plan.task_ids("eval") == [t.id for t in smallest(load_source("eval").tasks, 2, skip=8)]
    with pytest.raises(UserError, match="skip_tasks -1"):
        make_scale(matrix, "demo", {"skip_tasks": -1})
    res = subprocess.run([sys.executable, "-m", "experiments", "--scale", "demo", "--tasks", "2", "--skip-tasks",
                          "8", "--ttt-lr", "0.0003", "--runs", "ttt_eval", "--work", str(tmp_path), "--plan-only"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "| ttt_eval |" in res.stdout


@pytest.mark.parametrize("edit, expected", [
    (lambda m: m["scales"]["demo"].update(stpes=3), "scales.demo: unknown key 'stpes' (did you mean 'steps'?)"),
    (lambda m: m["runs"]["train"].update(evaluat=["eval"]), "runs.train: unknown key 'evaluat' (did you mean"),
    (lambda m: m["runs"]["train"].update(after="nope"), "runs.train: continues unknown run 'nope'"),
    (lambda m: m["runs"]["train"].update(evaluate=["dev"]), "runs.train: unknown split 'dev'"),
    (lambda m: m.update(runz={}), "unknown key 'runz' (did you mean 'runs'?)"),
])
def test_matrix_mistakes_are_one_line_errors_naming_the_file(tmp_path, edit, expected) -> None:
    matrix = load_matrix()
    edit(matrix)
    path = tmp_path / "matrix.yml"
    path.write_text(yaml.safe_dump(matrix))
    with pytest.raises(UserError, match="^" + re.escape(f"{path}: ")) as err:
        load_matrix(path)
    assert expected in str(err.value) and "\n" not in str(err.value)
    res = subprocess.run([sys.executable, "-m", "experiments", "--matrix", str(path)], capture_output=True,
                         text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 2 and expected in res.stderr and "Traceback" not in res.stderr, res.stderr
    path.write_text("scales: [unclosed\n")
    res = subprocess.run([sys.executable, "-m", "experiments", "--matrix", str(path)], capture_output=True,
                         text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 2 and f"{path}: not valid YAML" in res.stderr and "Traceback" not in res.stderr


TINY = {"tasks": 2, "copies": 2, "steps": 2, "count_samples": 8, "augmentations": 1, "prompt_format": "multiturn",
        "ttt_copies": 2, "ttt_epochs": 1, "overrides": {"learning_rate": 0.005}}


@pytest.mark.slow
def test_matrix_runs_end_to_end_and_resumes(tmp_path) -> None:
    base = build_tiny("llama", tmp_path / "tiny_llama")
    matrix = load_matrix()
    matrix["scales"] = {"tiny": TINY}
    (tmp_path / "matrix.yml").write_text(yaml.safe_dump(matrix))
    work, md = tmp_path / "work", tmp_path / "results.md"
    cmd = [sys.executable, "-m", "experiments", "--matrix", str(tmp_path / "matrix.yml"), "--scale", "tiny",
           "--runs", "base,train,count_train,ttt_eval", "--base-model", str(base), "--work", str(work),
           "--results", str(md), "--root", str(ROOT)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=1200)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    for run in ("train", "count", "count_train", "ttt_eval"):
        record = json.loads((work / "runs" / run / "train.json").read_text())
        steps = 2 if run != "ttt_eval" else -(-record["samples"] // 4)  # TTT: ttt_epochs (1) over its samples
        assert record["steps"] == steps and len(record["losses"]) == steps and record["tokens_seen"] > 0
    ttt = json.loads((work / "runs" / "ttt_eval" / "adapter" / TRAINING_RECORD).read_text())
    assert ttt["config"]["lora_model_dir"].endswith("train/adapter") and ttt["datasets"][0]["name"] == "ttt_eval"
    loo = [json.loads(line) for line in (work / "data" / "ttt_eval.jsonl").read_text().splitlines()]
    assert loo and all("held_out" in r and "test_index" not in r for r in loo)
    stage2 = json.loads((work / "runs" / "count_train" / "adapter" / TRAINING_RECORD).read_text())
    assert stage2["config"]["lora_model_dir"].endswith("count/adapter")
    for run, splits in {"base": ["train", "eval"], "train": ["train", "eval"], "count_train": ["train", "eval"],
                        "ttt_eval": ["eval"]}.items():
        for split in splits:
            summary = json.loads((work / "runs" / run / f"eval-{split}" / "summary.json").read_text())
            assert summary["n_tasks"] == 2 and 0.0 <= summary["score"] <= 1.0
    text = md.read_text()
    assert "| train | recipes/smollm2_cpu.yml |" in text
    assert "| count_train | recipes/smollm2_cpu_count_then_arc.yml" in text
    assert "| ttt_eval | recipes/smollm2_cpu_ttt.yml |" in text and "- ttt_eval (shared) on eval, against train" in text
    assert md.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert again.returncode == 0 and "training" not in again.stdout and "evaluating" not in again.stdout
    assert md.read_text() == text


@pytest.mark.slow
def test_per_task_ttt_in_two_processes_trains_and_uses_one_adapter_per_task(tmp_path) -> None:
    """Under accelerate launch with two CPU processes (gloo): the first trains `train` while the other waits, then
    each trains its share of the per-task adapters and predicts its share of the tasks; one results file."""
    base = build_tiny("llama", tmp_path / "tiny_llama")
    matrix = load_matrix()
    matrix["scales"] = {"tiny": {**TINY, "ttt_mode": "per_task", "ttt_overrides": {"learning_rate": 0.003}}}
    (tmp_path / "matrix.yml").write_text(yaml.safe_dump(matrix))
    work, md = tmp_path / "work", tmp_path / "results.md"
    cmd = [*cpu_launch(2), "-m", "experiments", "--matrix", str(tmp_path / "matrix.yml"),
           "--scale", "tiny", "--runs", "ttt_eval", "--base-model", str(base), "--work", str(work), "--results",
           str(md), "--root", str(ROOT)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=1200)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    assert res.stdout.count("[train] training") == 1 and res.stdout.count("results: ") == 1
    assert res.stdout.count("task adapters in one process") == 2, res.stdout
    assert json.loads((work / "runs" / "train" / "train.json").read_text())["steps"] == 2
    assert yaml.safe_load((work / "runs" / "train" / "adapter" / "recipe.yml").read_text())["learning_rate"] == 0.005
    plan = make_plan(matrix, make_scale(matrix, "tiny", {}), ["ttt_eval"])
    with_pairs = [t.id for t in plan.tasks["eval"] if len(t.train) >= 2]
    record = json.loads((work / "runs" / "ttt_eval" / "train.json").read_text())
    assert record["ttt_mode"] == "per_task" and record["adapters"] == len(with_pairs) == 2
    trained_by = set()
    for task_id in with_pairs:
        folder = work / "runs" / "ttt_eval" / "adapters" / task_id
        samples = {json.loads(line)["task_id"] for line in (folder / "ttt.jsonl").read_text().splitlines()}
        assert samples == {task_id}  # each adapter sees its own task only
        assert (folder / "adapter" / "adapter_model.safetensors").exists()
        assert yaml.safe_load((folder / "adapter" / "recipe.yml").read_text())["learning_rate"] == 0.003
        done = json.loads((folder / "train.json").read_text())
        trained_by.add(done["process"])
        assert 0 < done["train_s"] <= done["wall_s"]  # trained in one process per shard (recipes/in_process.py)
        assert done["process_startup_s"] > 0  # each process's first (here: only) task records its Axolotl import
    assert trained_by == {0, 1}  # one adapter each
    assert len(record["startup_s"]) == 2 and "Axolotl's import, once per process" in md.read_text()
    out = work / "runs" / "ttt_eval" / "eval-eval"
    assert sorted(p.name for p in out.glob("per_task*.jsonl")) == ["per_task.shard-0.jsonl", "per_task.shard-1.jsonl"]
    assert {t: r["adapter"] for t, r in finished_tasks(out).items()} == {t: t for t in with_pairs}
    assert "| ttt_eval | recipes/smollm2_cpu_ttt.yml |" in md.read_text()


def test_each_scale_has_its_own_results_file(tmp_path) -> None:
    assert default_results(tmp_path, "demo") == tmp_path / "experiments" / "results.md"
    assert default_results(tmp_path, "cpu") == tmp_path / "experiments" / "results-cpu.md"


def test_per_task_table_shows_score_and_shape_before_and_after() -> None:
    rec = {"task_wall_s": {"a": 30.4, "b": 12.0}, "task_train_s": {"a": 28.0}, "task_samples": {"a": 32, "b": 16},
           "task_first_loss": {"a": 2.5, "b": 1.0}, "task_final_loss": {"a": 0.25, "b": 0.5}}
    rows = per_task_table(rec, ({"a": 0.0, "b": 0.0}, {"a": 0.5, "b": 1.0}), ({"a": 1.0, "b": 0.0}, {"a": 1.0}))
    assert "| a | 32 | 2.500 -> 0.250 | 30 | 28 | 0.00 -> 1.00 | 50% -> 100% |" in rows
    assert "| b | 16 | 1.000 -> 0.500 | 12 | - | 0.00 -> 0.00 | 100% -> - |" in rows
