"""The GPU recipes (QLoRA, DeepSpeed ZeRO-2/3 with offload) trained end to end on a CPU, on a tiny Phi-3-shaped model,
then loaded by evalkit to predict. `pytest -m gpu_recipe` runs exactly these.

Each run is the recipe itself with what only a GPU has turned off (bf16/tf32 keys, CUDA device) and the two CPU
plugins listed: recipes.cpu_precision (precision) and recipes.cpu_deepspeed (a gloo process group for DeepSpeed).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from arcprep.build import BuildConfig, build_dataset
from arccommon.files import empty_tensors
from tests.conftest import ROOT
from tests.tiny_models import build_tiny

pytestmark = [pytest.mark.gpu_recipe, pytest.mark.slow]

ON_CPU = {"train_device": "cpu", "bf16": False, "tf32": False, "lora_mlp_kernel": False, "lora_qkv_kernel": False,
          "lora_o_kernel": False, "plugins": ["recipes.cpu_precision.CpuPrecisionPlugin",
                                              "recipes.cpu_deepspeed.CpuDeepSpeedPlugin"]}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, model_dir) -> tuple[Path, Path]:
    """(a tiny Phi-3 model, 4 small samples counted with its tokenizer)."""
    folder = tmp_path_factory.mktemp("gpu_recipes")
    data = folder / "small.jsonl"
    build_dataset(BuildConfig(source="train", max_side=5, limit=4, tokenizer=str(model_dir), max_tokens=512), data,
                  progress=False)
    return build_tiny("phi3", folder / "tiny_phi3"), data


def _train(recipe: str, tmp: Path, tiny: tuple[Path, Path], processes: int = 1,
           **overrides) -> tuple[subprocess.CompletedProcess, Path]:
    base, data = tiny
    out = tmp / "out"
    sets = {**ON_CPU, "base_model": str(base), "output_dir": str(out), "dataset_prepared_path": str(tmp / "prep"),
            "datasets": [{"path": str(data), "ds_type": "json", "type": "chat_template", "field_messages": "messages",
                          "roles_to_train": ["assistant"], "train_on_eos": "turn"}],
            "sequence_len": 512, "max_steps": 8, "save_steps": 8, "gradient_accumulation_steps": 1,
            "micro_batch_size": 1, "learning_rate": 0.005, "lr_scheduler": "constant", "warmup_ratio": 0,
            "logging_steps": 1, **overrides}
    cmd = [sys.executable, "-m", "recipes", "train", str(ROOT / "recipes" / recipe), "--root", str(ROOT),
           "--num-processes", str(processes), "--verbose"]
    for key, value in sets.items():
        cmd += ["--set", f"{key}={json.dumps(value) if not isinstance(value, str) else value}"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900)
    return res, out


def _losses(res: subprocess.CompletedProcess) -> list[float]:
    return [float(x) for x in re.findall(r"\{'loss': '?([0-9.]+)", res.stdout + res.stderr)]


def _predicts(adapter: Path, tmp: Path, task_folder: Path) -> None:
    """evalkit loads the adapter onto its (unquantised) base and writes a scored prediction."""
    res = subprocess.run([sys.executable, "-m", "evalkit", "run", "--adapter", str(adapter), "--split",
                          str(task_folder), "--limit", "1", "--quiet", "--max-new-tokens", "64", "--out",
                          str(tmp / "eval")], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads((tmp / "eval" / "summary.json").read_text())
    assert summary["n_tasks"] == 1 and (tmp / "eval" / "predictions.json").exists()


def _learned(res: subprocess.CompletedProcess, out: Path) -> None:
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    losses = _losses(res)
    assert len(losses) >= 8 and min(losses[-3:]) < losses[0], losses
    assert (out / "adapter_model.safetensors").exists() and empty_tensors(out / "adapter_model.safetensors") == 0


def test_qlora_with_zero2_optimizer_offload_on_one_process(tmp_path, tiny, task_folder):
    """phi3_qlora_zero2_offload.yml: a 4-bit NF4 base (bitsandbytes' CPU backend), LoRA on top, DeepSpeed ZeRO-2
    with the optimizer offloaded, in one process."""
    res, out = _train("phi3_qlora_zero2_offload.yml", tmp_path, tiny)
    _learned(res, out)
    assert "[cpu_deepspeed] gloo process group: rank 0 of 1" in res.stdout + res.stderr
    quant = json.loads((out / "config.json").read_text())["quantization_config"]
    assert quant["load_in_4bit"] and quant["bnb_4bit_quant_type"] == "nf4"
    assert (out / "checkpoint-8" / "global_step8").is_dir()  # DeepSpeed's engine wrote the checkpoint
    _predicts(out, tmp_path, task_folder)


def test_qlora_with_zero3_parameter_offload_on_one_process(tmp_path, tiny, task_folder):
    """phi3_qlora_zero3_multigpu.yml in one process: parameters and optimizer offloaded, the adapter gathered."""
    res, out = _train("phi3_qlora_zero3_multigpu.yml", tmp_path, tiny)
    _learned(res, out)
    assert (out / "checkpoint-8" / "global_step8").is_dir()
    _predicts(out, tmp_path, task_folder)


def test_qlora_with_zero3_trains_on_two_cpu_processes(tmp_path, tiny, task_folder):
    """ZeRO-3 in 2 data-parallel CPU processes: ZeRO-3 places the model itself, so Axolotl's per-rank device map
    (what stops plain CPU DDP) never applies. recipes.cpu_deepspeed gives accelerate the group's rank and size, so
    the samples are shared out (each step takes one per process) and rank 0 alone saves a complete adapter."""
    res, out = _train("phi3_qlora_zero3_multigpu.yml", tmp_path, tiny, processes=2)
    text = res.stdout + res.stderr
    assert res.returncode == 0, text[-3000:]
    assert "gloo process group: rank 0 of 2" in text and "gloo process group: rank 1 of 2" in text, text[-3000:]
    assert "now rank 1 of 2 (data shared out, rank 0 saves)" in text
    samples = len(tiny[1].read_text().splitlines())
    epochs = [float(e) for e in re.findall(r"\{'loss': [^}]*'epoch': '([0-9.]+)'", text)]
    per_rank = -(-samples // 2)  # the distributed sampler pads to a multiple of the process count
    assert epochs[0] == 1 / per_rank, f"the {samples} samples were not shared out over 2 processes: {epochs}"
    losses = _losses(res)
    assert len(losses) >= 8 and min(losses[-3:]) < losses[0], losses
    assert empty_tensors(out / "adapter_model.safetensors") == 0
    assert "saved empty by ZeRO-3" not in text
    _predicts(out, tmp_path, task_folder)


def test_zero2_on_two_cpu_processes_is_refused_in_one_line(tmp_path, tiny):
    res, _ = _train("phi3_qlora_zero2_offload.yml", tmp_path, tiny, processes=2)
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert "--num-processes 2: Axolotl 0.19 cannot train data-parallel on a CPU" in res.stderr
    assert "except under DeepSpeed ZeRO-3" in res.stderr


def test_plain_lora_phi3_recipe_with_the_cpu_plugins(tmp_path, tiny, task_folder):
    """phi3_train.yml (no DeepSpeed): the plugin starts no process group; the adapter predicts."""
    res, out = _train("phi3_train.yml", tmp_path, tiny)
    _learned(res, out)
    assert "[cpu_deepspeed]" not in res.stdout + res.stderr
    _predicts(out, tmp_path, task_folder)
