"""README's "bring your own tasks" path: a folder of ARC-format JSON tasks -> dataset -> a copied recipe -> train ->
evaluate on that folder, with the commands a user types; and what those commands print: our own lines and progress
bars on the console, Axolotl's and the libraries' output in a log file per step (train.log, eval.log)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from arcprep.sources import load_source
from tests.conftest import MODEL_DIR, ROOT
from tests.tiny_models import build_tiny


def _run(*args: str) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


@pytest.mark.slow
def test_a_folder_of_own_tasks_is_built_trained_on_and_evaluated(tmp_path) -> None:
    tasks = tmp_path / "my_tasks"
    tasks.mkdir()
    for i, task in enumerate(sorted(load_source("train").tasks, key=lambda t: len(json.dumps(t.to_json())))[:2]):
        (tasks / f"mine{i}.json").write_text(json.dumps(task.to_json()))
    data = tmp_path / "mine.jsonl"
    _run("-m", "arcprep", "build", "--source", str(tasks), "--copies", "2", "--prompt-format", "multiturn",
         "--tokenizer", str(MODEL_DIR), "--max-tokens", "1024", "--out", str(data))
    recipe = yaml.safe_load((ROOT / "recipes" / "smollm2_cpu.yml").read_text())
    recipe["datasets"][0]["path"] = str(data)
    recipe.update(base_model=str(build_tiny("llama", tmp_path / "tiny")), output_dir=str(tmp_path / "out"),
                  dataset_prepared_path=str(tmp_path / "prepared"), max_steps=2, save_steps=2)
    mine = tmp_path / "my_recipe.yml"
    mine.write_text(yaml.safe_dump(recipe, sort_keys=False))
    trained = _run("-m", "recipes", "train", str(mine), "--root", str(ROOT))
    console = trained.stdout + trained.stderr
    log = tmp_path / "out" / "train.log"
    assert f"Axolotl's output: {log}" in console and "adapter: " in console
    assert "[cpu_precision]" in log.read_text() and "'loss'" in log.read_text()  # Axolotl's own lines are there
    assert "[cpu_precision]" not in console and "'loss': " not in console, console  # Axolotl's lines: in the log
    assert len(console.splitlines()) < 12, console
    out = tmp_path / "eval"
    evaluated = _run("-m", "evalkit", "--adapter", str(tmp_path / "out"), "--split", str(tasks), "--augmentations",
                     "1", "--out", str(out), "--quiet")
    console = evaluated.stdout + evaluated.stderr
    assert f"third-party output: {out / 'eval.log'}" in console and (out / "eval.log").exists()
    assert "Loading weights" not in console and "Warning" not in console and len(console.splitlines()) < 40
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_tasks"] == 2 and 0.0 <= summary["score"] <= 1.0
    assert sorted(json.loads((out / "predictions.json").read_text())) == ["mine0", "mine1"]


@pytest.mark.slow
def test_a_failed_training_shows_the_log_tail_and_path(tmp_path) -> None:
    recipe = yaml.safe_load((ROOT / "recipes" / "smollm2_cpu.yml").read_text())
    broken = tmp_path / "not_a_model"
    broken.mkdir()
    (broken / "config.json").write_text("{}")  # exists, so the checks pass; Axolotl cannot load it
    recipe.update(base_model=str(broken), output_dir=str(tmp_path / "out"), max_steps=1)
    mine = tmp_path / "my_recipe.yml"
    mine.write_text(yaml.safe_dump(recipe, sort_keys=False))
    res = subprocess.run([sys.executable, "-m", "recipes", "train", str(mine), "--root", str(ROOT)],
                         capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert res.returncode == 2 and "Traceback" not in res.stderr.split("  | ")[0]
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {mine}: Axolotl exited with status") and last.endswith(
        f"log: {tmp_path / 'out' / 'train.log'}")
    assert "  | " in res.stderr  # the log's last lines, shown where the user looks
