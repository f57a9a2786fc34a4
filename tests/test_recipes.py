"""Recipes: every recipe passes the schema; real Axolotl training on tiny local models and the embedded model.

The training tests launch the real command line (python -m recipes train -> accelerate -> axolotl.cli.train)
on the real recipe files, overriding only base_model, datasets, steps and output paths.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from arccommon.precision import decide_precision
from arcprep.build import BuildConfig, build_dataset
from evalkit.shards import cpu_launch
from recipes.check import check_recipe, load_recipe
from recipes.record import TRAINING_RECORD
from tests.conftest import ROOT
from tests.tiny_models import build_tiny

RECIPES = sorted((ROOT / "recipes").glob("*.yml"))


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_every_recipe_passes_check(recipe):
    assert check_recipe(recipe, root=ROOT) == []


def test_deepspeed_configs_offload():
    for name, stage, offloads in [("zero2_offload.json", 2, {"offload_optimizer"}),
                                  ("zero3_offload.json", 3, {"offload_optimizer", "offload_param"})]:
        zero = json.loads((ROOT / "recipes" / "deepspeed" / name).read_text())["zero_optimization"]
        assert zero["stage"] == stage
        assert all(zero[key]["device"] == "cpu" for key in offloads)


def test_check_names_every_violation(tmp_path):
    bad = yaml.safe_load((ROOT / "recipes" / "smollm2_cpu.yml").read_text())
    bad["datasets"][0].update(type="alpaca", roles_to_train=["user", "assistant"], path="data/missing.jsonl")
    bad["lora_mlp_kernel"] = True
    bad["deepspeed"] = "recipes/deepspeed/nope.json"
    bad["sequence_len"] = 128
    del bad["output_dir"]
    path = tmp_path / "bad_cpu.yml"
    path.write_text(yaml.safe_dump(bad))
    problems = check_recipe(path, root=ROOT)
    text = "\n".join(problems)
    for expected in ["(top level): 'output_dir' is a required property", "datasets[0].type: 'chat_template' was expected",
                     "datasets[0].roles_to_train", "lora_mlp_kernel: False was expected (CPU recipe)",
                     "deepspeed: recipes/deepspeed/nope.json does not exist",
                     "datasets[0].path: data/missing.jsonl does not exist"]:
        assert expected in text, text
    short = tmp_path / "short_cpu.yml"
    recipe = yaml.safe_load((ROOT / "recipes" / "smollm2_cpu.yml").read_text())
    recipe["sequence_len"] = 128
    short.write_text(yaml.safe_dump(recipe))
    assert any(p.startswith("sequence_len: 128 is shorter") for p in check_recipe(short, root=ROOT))


@pytest.mark.parametrize("package", ["recipes", "arcprep"])  # the old form, python -m arcprep check, forwards
def test_cli_check_exit_codes(tmp_path, package):
    (tmp_path / "x_cpu.yml").write_text("base_model: models/none\n")
    res = subprocess.run([sys.executable, "-m", package, "check", str(tmp_path / "x_cpu.yml")], capture_output=True,
                         text=True, cwd=ROOT)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "'train_device' is a required property" in res.stderr
    assert all(line.startswith(str(tmp_path / "x_cpu.yml")) for line in res.stderr.strip().splitlines())
    ok = subprocess.run([sys.executable, "-m", package, "check", str(ROOT / "recipes" / "smollm2_cpu.yml")],
                        capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0 and ok.stdout.startswith("ok: "), ok.stderr


# ---- real training ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_data(tmp_path_factory, model_dir) -> Path:
    """4 fixed small samples (tokens counted), to be seen several times."""
    out = tmp_path_factory.mktemp("data") / "small.jsonl"
    build_dataset(BuildConfig(source="train", max_side=5, limit=4, tokenizer=str(model_dir), max_tokens=512), out,
                  progress=False)
    return out


def _train(recipe: str, tmp: Path, mixed_precision: str = "auto",
           **overrides) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp / "out"
    sets = {"output_dir": str(out), "dataset_prepared_path": str(tmp / "prepared"), "logging_steps": 1,
            "warmup_steps": 0, **overrides}
    cmd = [sys.executable, "-m", "recipes", "train", str(ROOT / "recipes" / recipe), "--root", str(ROOT),
           "--mixed-precision", mixed_precision, "--verbose"]
    for key, value in sets.items():
        cmd += ["--set", f"{key}={json.dumps(value) if not isinstance(value, str) else value}"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    return res, out


def _losses(out: Path) -> list[float]:
    state = sorted(out.glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name.split("-")[1]))[-1]
    return [h["loss"] for h in json.loads(state.read_text())["log_history"] if "loss" in h]


def _dataset(path: Path) -> list[dict]:
    return [{"path": str(path), "ds_type": "json", "type": "chat_template", "field_messages": "messages",
             "roles_to_train": ["assistant"], "train_on_eos": "turn"}]


def _assert_loads_with_peft(out: Path, base: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), out)
    assert any("lora_A" in name for name, _ in model.named_parameters())
    record = json.loads((out / TRAINING_RECORD).read_text())
    assert record["datasets"][0]["encoding"] == "plain" and record["datasets"][0]["system_prompt"]


def _trainer_precision(res: subprocess.CompletedProcess) -> str:
    """The mixed precision the Trainer inside Axolotl reported (recipes.cpu_precision prints it)."""
    found = re.findall(r"\[cpu_precision\] trainer mixed_precision: (\w+)", res.stdout + res.stderr)
    assert found, res.stdout[-2000:] + res.stderr[-2000:]
    return found[-1]


def test_cpu_recipe_trains_tiny_llama(tmp_path, small_data):
    """Trains at the precision decided for this machine: the Trainer inside Axolotl really uses it."""
    base = build_tiny("llama", tmp_path / "tiny_llama")
    res, out = _train("smollm2_cpu.yml", tmp_path, base_model=str(base), datasets=_dataset(small_data), max_steps=16,
                      gradient_accumulation_steps=1, learning_rate=0.005, save_steps=16, lr_scheduler="constant")
    decided = decide_precision("cpu")
    assert decided.line() in res.stderr
    assert _trainer_precision(res) == ("bf16" if decided.dtype == "bfloat16" else "no")
    losses = _losses(out)
    assert len(losses) == 16
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4 - 1.0, losses  # the 4 samples: first pass vs last pass
    _assert_loads_with_peft(out, base)


@pytest.mark.slow
def test_axolotl_cannot_train_data_parallel_on_a_cpu(tmp_path, small_data):
    """Pins the fact behind refusing --num-processes > 1 for CPU recipes: two gloo processes start (accelerate's
    launcher), then Axolotl puts each model on accelerator LOCAL_RANK and transformers stops. If this test fails,
    Axolotl learned CPU DDP: drop the refusal in recipes/launch.py."""
    base = build_tiny("llama", tmp_path / "tiny_llama")
    recipe = {**load_recipe(ROOT / "recipes" / "smollm2_cpu.yml"), "base_model": str(base),
              "datasets": _dataset(small_data), "output_dir": str(tmp_path / "out"),
              "dataset_prepared_path": str(tmp_path / "prepared"), "max_steps": 2}
    recipe.pop("train_device")
    path = tmp_path / "recipe.yml"
    path.write_text(yaml.safe_dump(recipe))
    cmd = [*cpu_launch(2), "-m", "axolotl.cli.train", str(path)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert res.returncode != 0 and "Cannot access accelerator device when none is available" in res.stderr, \
        res.stderr[-3000:]
    refused = subprocess.run([sys.executable, "-m", "recipes", "train", str(ROOT / "recipes" / "smollm2_cpu.yml"),
                              "--num-processes", "2", "--dry-run"], capture_output=True, text=True, cwd=ROOT,
                             timeout=120)
    assert refused.returncode == 2 and "cannot train data-parallel on a CPU" in refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.slow
def test_phi3_recipe_trains_tiny_phi3(tmp_path, small_data):
    """The Phi-3 recipe (fused qkv_proj/gate_up_proj targets) on a Phi-3-shaped model; bf16/tf32 are GPU-only."""
    base = build_tiny("phi3", tmp_path / "tiny_phi3")
    _, out = _train("phi3_train.yml", tmp_path, base_model=str(base), datasets=_dataset(small_data), max_steps=12,
                    gradient_accumulation_steps=1, learning_rate=0.005, save_steps=12, bf16=False, tf32=False,
                    optimizer="adamw_torch", lr_scheduler="constant", sequence_len=512)
    losses = _losses(out)
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4 - 1.0, losses
    _assert_loads_with_peft(out, base)
    config = json.loads((out / "adapter_config.json").read_text())
    assert set(config["target_modules"]) == {"qkv_proj", "o_proj", "gate_up_proj", "down_proj"}


@pytest.mark.slow
def test_staged_recipe_starts_from_stage1_adapter(tmp_path, small_data):
    """Stage 2 (lora_model_dir) begins from stage 1's adapter: with learning rate 0 it ends exactly there."""
    from safetensors.torch import load_file

    base = build_tiny("llama", tmp_path / "tiny_llama")
    _, stage1 = _train("smollm2_cpu.yml", tmp_path / "s1", base_model=str(base), datasets=_dataset(small_data),
                       max_steps=4, gradient_accumulation_steps=1, learning_rate=0.003, save_steps=4)
    res, stage2 = _train("smollm2_cpu_count_then_arc.yml", tmp_path / "s2", "bf16", base_model=str(base),
                         lora_model_dir=str(stage1), datasets=_dataset(small_data), max_steps=2,
                         gradient_accumulation_steps=1, learning_rate=0.0, save_steps=2)
    assert _trainer_precision(res) == "bf16"  # asked for: --mixed-precision bf16
    w1, w2 = load_file(stage1 / "adapter_model.safetensors"), load_file(stage2 / "adapter_model.safetensors")
    assert w1.keys() == w2.keys()
    assert any(t.abs().sum() > 0 for k, t in w1.items() if "lora_B" in k)  # stage 1 really trained
    assert all((w1[k] == w2[k]).all() for k in w1)


@pytest.mark.slow
def test_interrupted_run_resumes(tmp_path, small_data):
    """A run stopped after its step-2 checkpoint resumes from it when the same command runs again."""
    base = build_tiny("llama", tmp_path / "tiny_llama")
    common = dict(base_model=str(base), datasets=_dataset(small_data), gradient_accumulation_steps=1,
                  learning_rate=0.003, save_steps=2, lr_scheduler="constant")
    res, out = _train("smollm2_cpu.yml", tmp_path, "no", max_steps=2, **common)
    assert _trainer_precision(res) == "no"  # asked for: --mixed-precision no
    assert (out / "checkpoint-2").exists()
    res, out = _train("smollm2_cpu.yml", tmp_path, max_steps=4, **common)
    assert "checkpoint-2" in res.stdout + res.stderr
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4 and len([h for h in state["log_history"] if "loss" in h]) == 4


@pytest.mark.slow
def test_embedded_model_short_cpu_run(tmp_path, small_data, model_dir):
    """The CPU recipe on the real SmolLM2-135M: two steps write an adapter that loads."""
    _, out = _train("smollm2_cpu.yml", tmp_path, datasets=_dataset(small_data), max_steps=2,
                    gradient_accumulation_steps=1, save_steps=2)
    assert len(_losses(out)) == 2
    _assert_loads_with_peft(out, model_dir)
