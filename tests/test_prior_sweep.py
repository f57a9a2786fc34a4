"""The prior's settings sweep: its slice rule keeps apart from every reported task, each candidate changes only its
own keys, the measures come from Axolotl's log, and a tiny sweep really trains."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from arccommon.errors import UserError
from arcprep.sources import load_source
from experiments.plan import smallest
from experiments.prior_sweep import SWEEP, load_sweep, measure, overrides, slice_tasks
from recipes.check import load_recipe
from tests.conftest import MODEL_DIR, ROOT

EVAL = "{{'eval_loss': '{loss}', 'eval_runtime': '3.1', 'epoch': {epoch}}}"
STEP = "{{'loss': '{loss}', 'grad_norm': '0.5', 'learning_rate': '0.001', 'epoch': '0.1'}}"
END = "{'train_runtime': '12.5', 'train_loss': '0.9', 'epoch': '0.2'}"


def test_the_slice_keeps_apart_from_every_reported_task_and_holds_out_every_fourth():
    sweep = load_sweep()
    tasks = load_source(sweep.source).tasks
    trained, held = slice_tasks(sweep, tasks)
    assert (len(trained), len(held)) == (36, 12)
    assert not {t.id for t in trained} & {t.id for t in held}
    reported = {t.id for t in smallest(tasks, 48)}  # the demo's, cpu's and prior scale's train tasks: ranks 1-48
    assert not reported & {t.id for t in trained + held}
    assert slice_tasks(sweep, list(reversed(tasks))) == (trained, held)  # the rule, not the file order, decides


def test_each_candidate_changes_only_its_own_keys(tmp_path):
    sweep = load_sweep()
    recipe = load_recipe(ROOT / sweep.recipe)
    train, held = tmp_path / "train.jsonl", tmp_path / "held_out.jsonl"
    base = {**recipe, **overrides(sweep, recipe, "shipped", train, held, tmp_path, ROOT)}
    assert base["eval_steps"] == base["max_steps"] == sweep.steps
    assert base["datasets"][0]["path"] != base["test_datasets"][0]["path"]
    for name, changed in sweep.candidates.items():
        keys = {**recipe, **overrides(sweep, recipe, name, train, held, tmp_path, ROOT)}
        assert keys["eval_steps"] == keys["save_steps"] == keys["max_steps"], name  # measured at its last step
        differ = {k for k in keys if keys[k] != base[k] and k not in ("output_dir", "eval_steps", "save_steps")}
        assert differ == {k for k, v in changed.items() if recipe.get(k) != v}, name


def test_a_bad_sweep_file_is_one_line_naming_the_file_and_key(tmp_path):
    bad = tmp_path / "sweep.yml"
    spec = yaml.safe_load(SWEEP.read_text())
    spec["stpes"] = 3
    bad.write_text(yaml.safe_dump(spec))
    with pytest.raises(UserError, match=r"sweep\.yml: unknown key stpes"):
        load_sweep(bad)


def test_measures_come_from_the_trainers_log(tmp_path):
    log = tmp_path / "train.log"
    lines = [EVAL.format(loss="0.93", epoch=0)] + [STEP.format(loss=1.0 - i / 20) for i in range(10)]
    log.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match="did not finish"):
        measure(log)
    log.write_text("\n".join(lines + [EVAL.format(loss="0.71", epoch="'0.2'"), END]) + "\n")
    m = measure(log)
    assert (m["steps"], m["held_out_before"], m["held_out_loss"], m["trainer_seconds"]) == (10, 0.93, 0.71, 12.5)
    assert m["own_loss_last"] == pytest.approx(sum(1.0 - i / 20 for i in range(2, 10)) / 8, abs=1e-4)


def test_the_committed_results_name_every_candidate():
    results = (ROOT / "experiments/prior-sweep.md").read_text()
    for name in load_sweep().candidates:
        assert f"| {name} |" in results, name


@pytest.mark.slow
def test_a_tiny_sweep_trains_with_axolotl_and_writes_its_table(tmp_path):
    """Two candidates of 2 steps on 6 slice tasks with the real recipe and Axolotl: each logs a held-out loss
    before and after, and the table has a row for each."""
    if not (MODEL_DIR / "config.json").exists():
        pytest.skip("the embedded model is not converted (make model)")
    spec = yaml.safe_load(SWEEP.read_text())
    spec.update(slice={**spec["slice"], "last_rank": 56}, copies=1, held_out_copies=1, steps=2,
                candidates={"shipped": {}, "rank_16": {"lora_r": 16, "lora_alpha": 32}})
    sweep = tmp_path / "sweep.yml"
    sweep.write_text(yaml.safe_dump(spec, sort_keys=False))
    results = tmp_path / "sweep.md"
    res = subprocess.run([sys.executable, "-m", "experiments.prior_sweep", "--sweep", str(sweep), "--work",
                          str(tmp_path / "work"), "--results", str(results)], cwd=ROOT, capture_output=True,
                         text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    table = results.read_text()
    assert "| shipped |" in table and "| rank_16 | lora_r: 16, lora_alpha: 32 | 2 | " in table
    assert "Trained on (6)" in table and "Held out (2)" in table


def test_help():
    res = subprocess.run([sys.executable, "-m", "experiments.prior_sweep", "--help"], cwd=ROOT, capture_output=True,
                         text=True)
    assert res.returncode == 0 and "--only" in res.stdout


def test_a_finished_candidate_is_reused_only_with_the_settings_it_was_trained_with(tmp_path):
    from experiments.prior_sweep import run_candidate, settings

    sweep = load_sweep()
    record = tmp_path / "runs" / "rank_16" / "result.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"candidate": "rank_16", "settings": settings(sweep, "rank_16"), "steps": 37}))
    recipe = load_recipe(ROOT / sweep.recipe)
    args = (tmp_path / "train.jsonl", tmp_path / "held.jsonl", tmp_path, ROOT)
    assert run_candidate(sweep, recipe, "rank_16", *args)["steps"] == 37
    sweep.candidates["rank_16"] = {"lora_r": 8, "lora_alpha": 16}
    with pytest.raises(UserError, match=r"result\.json: candidate rank_16 was trained with .*delete"):
        run_candidate(sweep, recipe, "rank_16", *args)
