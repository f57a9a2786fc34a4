"""Every kind of file a command reads, truncated or corrupt: one line naming the file and what is wrong, no traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from recipes.check import check_recipe, load_recipe

ROOT = Path(__file__).resolve().parents[1]
PRIOR = ROOT / "models" / "smollm2-135m-arc1-prior"


def _cli(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


def _one_line(res: subprocess.CompletedProcess, *expected: str) -> None:
    assert res.returncode != 0, res.stdout
    assert "Traceback" not in res.stderr, res.stderr
    lines = [line for line in res.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    for text in expected:
        assert text in lines[0], lines[0]


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _build(task_folder: Path, out: Path) -> None:
    res = _cli("arcprep", "build", "--source", str(task_folder), "--copies", "1", "--seed", "1", "--quiet",
               "--out", str(out))
    assert res.returncode == 0, res.stderr


def test_a_truncated_task_file(tmp_path, task_folder):
    task = next(task_folder.iterdir())
    _truncate(task)
    _one_line(_cli("arcprep", "validate", str(task)), task.name, "not valid JSON")


def test_a_truncated_dataset_is_named_by_the_recipe_check_and_rebuilt_by_the_spec(tmp_path, task_folder):
    data = tmp_path / "d.jsonl"
    _build(task_folder, data)
    recipe = load_recipe(ROOT / "recipes" / "smollm2_cpu.yml")
    recipe["datasets"] = [{**recipe["datasets"][0], "path": "d.jsonl"}]
    (tmp_path / "r.yml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    assert not any("does not hash" in p for p in check_recipe(tmp_path / "r.yml", root=tmp_path))
    _truncate(data)
    problems = [p for p in check_recipe(tmp_path / "r.yml", root=tmp_path) if p.startswith("datasets[0]")]
    assert problems == ["datasets[0].path: d.jsonl does not hash as its manifest says (truncated or edited since "
                        "arcprep wrote it); rebuild it (`make data`)"]
    from arcprep.build import BuildConfig
    from arcprep.spec import is_up_to_date
    from arcprep.writer import read_manifest

    config = BuildConfig(**read_manifest(data)["config"])
    assert not is_up_to_date(config, data)  # `make data` builds it again rather than trusting the manifest


def test_a_corrupt_dataset_manifest(tmp_path, task_folder):
    data = tmp_path / "d.jsonl"
    _build(task_folder, data)
    manifest = data.with_suffix(".manifest.json")
    _truncate(manifest)
    recipe = load_recipe(ROOT / "recipes" / "smollm2_cpu.yml")
    recipe["datasets"] = [{**recipe["datasets"][0], "path": str(data)}]
    (tmp_path / "r.yml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    _one_line(_cli("recipes", "check", str(tmp_path / "r.yml"), "--root", str(tmp_path)), manifest.name,
              "not valid JSON")


def test_a_truncated_recipe(tmp_path):
    recipe = tmp_path / "cut.yml"
    shutil.copy(ROOT / "recipes" / "smollm2_cpu.yml", recipe)
    recipe.write_text(recipe.read_text() + "\nlora_r: [8,\n")  # what a cut-off edit leaves
    _one_line(_cli("recipes", "check", str(recipe), "--root", str(ROOT)), "cut.yml", "not valid YAML")


def test_truncated_adapter_weights_fail_before_the_base_model_loads(tmp_path):
    adapter = tmp_path / "adapter"
    shutil.copytree(PRIOR, adapter)
    _truncate(adapter / "adapter_model.safetensors", 0.001)
    res = _cli("evalkit", "run", "--adapter", str(adapter), "--split", "eval", "--limit", "1", "--quiet",
               "--out", str(tmp_path / "out"))
    _one_line(res, "adapter_model.safetensors: cannot be read", "truncated or corrupt")
    (adapter / "adapter_model.safetensors").unlink()
    _one_line(_cli("evalkit", "run", "--adapter", str(adapter), "--split", "eval", "--limit", "1", "--quiet",
                   "--out", str(tmp_path / "out")), "adapter_model.safetensors: missing")


def test_corrupt_predictions_and_solutions(tmp_path):
    predictions, solutions = tmp_path / "predictions.json", tmp_path / "solutions.json"
    predictions.write_text(json.dumps({"t": [{"attempt_1": [[1]], "attempt_2": [[2]]}]})[:-7])
    solutions.write_text(json.dumps({"t": [[[1]]]}))
    _one_line(_cli("evalkit", "score", "--predictions", str(predictions), "--solutions", str(solutions)),
              "predictions.json", "not valid JSON")
    predictions.write_text(json.dumps({"t": [{"attempt_1": [[1]], "attempt_2": [[2]]}]}))
    solutions.write_text("[[[1]]")
    _one_line(_cli("evalkit", "score", "--predictions", str(predictions), "--solutions", str(solutions)),
              "solutions.json", "not valid JSON")
