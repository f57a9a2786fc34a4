"""README's "bring your own tasks" path: a folder of ARC-format JSON tasks -> dataset -> a copied recipe -> train ->
evaluate on that folder, with the commands a user types."""

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
    _run("-m", "recipes", "train", str(mine), "--root", str(ROOT))
    out = tmp_path / "eval"
    _run("-m", "evalkit", "--adapter", str(tmp_path / "out"), "--split", str(tasks), "--augmentations", "1",
         "--out", str(out), "--quiet")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_tasks"] == 2 and 0.0 <= summary["score"] <= 1.0
    assert sorted(json.loads((out / "predictions.json").read_text())) == ["mine0", "mine1"]
