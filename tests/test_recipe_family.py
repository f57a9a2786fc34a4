"""Recipes state their device (train_device), families share their settings, and typos in keys are reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from recipes.check import check_recipe, is_cpu_recipe, load_recipe
from tests.conftest import ROOT

RECIPES = sorted((ROOT / "recipes").glob("*.yml"))
PATH_KEYS = {"output_dir", "dataset_prepared_path", "lora_model_dir"}  # where a stage reads and writes
# The GPU recipes trade memory for speed in these keys only (4-bit weights, DeepSpeed offload, longer samples).
GPU_MEMORY_KEYS = {"sequence_len", "adapter", "load_in_4bit", "bnb_config_kwargs", "deepspeed",
                   "gradient_accumulation_steps", "optimizer"}
# Test-time-training recipes (*_ttt.yml) run a shorter, gentler schedule, on one task's few samples (tokenized
# without worker processes).
TTT_SCHEDULE_KEYS = {"max_steps", "num_epochs", "learning_rate", "save_steps", "dataset_num_proc"}
# The broad priors (*_prior.yml, its second pass *_prior2.yml, *_prior3.yml on every layer) run one long epoch of long
# samples.
PRIOR_SCHEDULE_KEYS = {"max_steps", "num_epochs", "learning_rate", "save_steps", "warmup_steps", "sequence_len",
                       "peft_layers_to_transform"}


def _settings(recipe: dict[str, Any], free: set[str]) -> dict[str, Any]:
    """The recipe without the keys a family member may change; dataset entries without their path."""
    kept = {k: v for k, v in recipe.items() if k not in free}
    kept["datasets"] = [{k: v for k, v in ds.items() if k != "path"} for ds in recipe["datasets"]]
    return kept


@pytest.mark.parametrize("device, free", [("cpu", PATH_KEYS), ("cuda", PATH_KEYS | GPU_MEMORY_KEYS)])
def test_each_family_shares_its_settings(device, free):
    family = {p.name: load_recipe(p) for p in RECIPES if load_recipe(p)["train_device"] == device}
    assert len(family) >= 3, family.keys()
    first, *rest = family
    for name in rest:
        own = free | (TTT_SCHEDULE_KEYS if name.endswith("_ttt.yml") else
                      PRIOR_SCHEDULE_KEYS if name.endswith(("_prior.yml", "_prior2.yml", "_prior3.yml")) else set())
        a, b = _settings(family[first], own), _settings(family[name], own)
        differing = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        assert not differing, f"{name} differs from {first} in {differing}"


def test_every_recipe_states_its_device():
    assert all(load_recipe(p).get("train_device") in ("cpu", "cuda") for p in RECIPES)
    assert [p.name for p in RECIPES if is_cpu_recipe(load_recipe(p))] == [
        "smollm2_cpu.yml", "smollm2_cpu_count.yml", "smollm2_cpu_count_then_arc.yml", "smollm2_cpu_prior.yml",
        "smollm2_cpu_prior2.yml", "smollm2_cpu_prior3.yml", "smollm2_cpu_ttt.yml"]


def _copy(tmp_path: Path, name: str, **changes: Any) -> Path:
    recipe = {**load_recipe(ROOT / "recipes" / "smollm2_cpu.yml"), **changes}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def _dry_run(recipe: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "recipes", "train", str(recipe), "--root", str(ROOT), "--dry-run",
           "--set", f"output_dir={tmp_path / 'out'}", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_a_copy_under_any_name_is_checked_and_launched_as_cpu(tmp_path):
    copy = _copy(tmp_path, "my_run.yml")
    assert check_recipe(copy, root=ROOT) == []
    res = _dry_run(copy, tmp_path)
    assert res.returncode == 0, res.stderr
    assert "accelerate.commands.launch --cpu --num_processes 1" in res.stderr and "precision: " in res.stderr
    kernel = _copy(tmp_path, "other.yml", lora_mlp_kernel=True)
    assert "lora_mlp_kernel: False was expected (CPU recipe)" in check_recipe(kernel, root=ROOT)
    gpu = _copy(tmp_path, "elsewhere_cpu.yml", train_device="cuda")  # the name says cpu, the key decides
    assert check_recipe(gpu, root=ROOT) == []
    res = _dry_run(gpu, tmp_path)
    assert res.returncode == 0 and "--cpu" not in res.stderr and "precision: " not in res.stderr, res.stderr


def test_mixed_precision_flag_overrides_auto(tmp_path):
    copy = _copy(tmp_path, "fp32.yml")
    res = _dry_run(copy, tmp_path, "--mixed-precision", "no")
    assert "precision: float32 (asked for)" in res.stderr, res.stderr


def test_missing_or_wrong_device_is_reported(tmp_path):
    recipe = load_recipe(ROOT / "recipes" / "smollm2_cpu.yml")
    del recipe["train_device"]
    (tmp_path / "none.yml").write_text(yaml.safe_dump(recipe))
    assert "(top level): 'train_device' is a required property" in check_recipe(tmp_path / "none.yml", root=ROOT)
    wrong = _copy(tmp_path, "gpu.yml", train_device="gpu")
    assert any(p.startswith("train_device: 'gpu' is not one of") for p in check_recipe(wrong, root=ROOT))


def test_keys_axolotl_does_not_know_are_reported(tmp_path):
    recipe = load_recipe(ROOT / "recipes" / "smollm2_cpu.yml")
    recipe["lora_dropuot"] = recipe.pop("lora_dropout")
    recipe["datasets"][0]["feild_messages"] = recipe["datasets"][0].pop("field_messages")
    (tmp_path / "typo.yml").write_text(yaml.safe_dump(recipe))
    problems = check_recipe(tmp_path / "typo.yml", root=ROOT)
    assert "lora_dropuot: not a key Axolotl knows; it would be ignored (did you mean lora_dropout?)" in problems
    assert any(p.startswith("datasets[0].feild_messages: not a key Axolotl knows") for p in problems), problems
    assert not any(p.startswith("train_device") for p in problems)


def test_schema_file_is_valid_json():
    schema = json.loads((ROOT / "recipes" / "schema.json").read_text())
    assert "train_device" in schema["required"]


def test_the_launch_line_names_paths_inside_the_repository_relative_to_it(tmp_path):
    from recipes.launch import shown_command

    cmd = ["/usr/bin/python", "-m", "axolotl.cli.train", str(ROOT / "recipes" / "smollm2_cpu.yml"),
           str(tmp_path / "elsewhere.yml")]
    assert shown_command(cmd, ROOT) == f"-m axolotl.cli.train recipes/smollm2_cpu.yml {tmp_path / 'elsewhere.yml'}"
