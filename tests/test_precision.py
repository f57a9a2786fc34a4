"""One function decides precision for training and evaluation, per machine, and says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from arccommon import precision
from recipes.launch import launch_command


@pytest.fixture
def cpuinfo(tmp_path, monkeypatch):
    def make(flags: str) -> None:
        path = tmp_path / "cpuinfo"
        path.write_text(f"processor\t: 0\nflags\t\t: fpu sse2 avx2 {flags}\n")
        monkeypatch.setattr(precision, "CPUINFO", path)
    return make


@pytest.mark.parametrize("flags, dtype", [("avx512_bf16", "bfloat16"), ("amx_bf16 amx_tile", "bfloat16"),
                                          ("avx512f", "float32"), ("", "float32")])
def test_auto_on_cpu_follows_the_bf16_instructions(cpuinfo, flags, dtype):
    cpuinfo(flags)
    decided = precision.decide_precision("cpu")
    assert decided.dtype == dtype
    assert ("avx512_bf16" in decided.reason or "amx_bf16" in decided.reason or "lacks" in decided.reason)
    assert decided.line().startswith(f"precision: {dtype} (")


def test_asked_for_wins_and_unknown_is_refused(cpuinfo):
    cpuinfo("")
    assert precision.decide_precision("cpu", "bfloat16") == precision.Precision("bfloat16", "asked for")
    with pytest.raises(ValueError, match="unknown precision"):
        precision.decide_precision("cpu", "fp8")


def test_unreadable_cpuinfo_means_no_bf16(tmp_path):
    assert precision.cpu_bf16_flags(tmp_path / "missing") == []


def test_cpu_launch_is_one_cpu_process():
    cmd = launch_command(Path("r.yml"), on_cpu=True)
    assert cmd[cmd.index("--num_processes") + 1] == "1" and "--cpu" in cmd
    assert "--cpu" not in launch_command(Path("r.yml"), on_cpu=False)


def test_the_plugin_turns_the_decision_into_trainer_arguments(cpuinfo, monkeypatch):
    from arccommon.precision import CPU_PRECISION_ENV
    from recipes.cpu_precision import CpuPrecisionPlugin

    plugin = CpuPrecisionPlugin()
    cpuinfo("amx_bf16")
    monkeypatch.delenv(CPU_PRECISION_ENV, raising=False)
    assert plugin.get_training_args({}) == {"use_cpu": True, "bf16": True}
    monkeypatch.setenv(CPU_PRECISION_ENV, "float32")
    assert plugin.get_training_args({}) == {"use_cpu": True, "bf16": False}
    cpuinfo("")
    monkeypatch.setenv(CPU_PRECISION_ENV, "auto")
    assert plugin.get_training_args({}) == {"use_cpu": True, "bf16": False}


def test_the_environment_can_fix_what_auto_means_on_a_cpu(cpuinfo, monkeypatch):
    cpuinfo("avx512_bf16")
    monkeypatch.setenv(precision.CPU_PRECISION_ENV, "float32")
    decided = precision.decide_precision("cpu")
    assert decided.dtype == "float32" and "ARC_CPU_PRECISION=float32" in decided.line()
    assert precision.decide_precision("cpu", "bfloat16").dtype == "bfloat16"  # an explicit request still wins
    monkeypatch.setenv(precision.CPU_PRECISION_ENV, "fp8")
    with pytest.raises(ValueError, match="ARC_CPU_PRECISION='fp8'"):
        precision.decide_precision("cpu")


def test_frozen_linears_in_bf16_give_the_same_loss_and_gradients_under_autocast(tmp_path):
    """Storing frozen linear weights in bf16 changes nothing under bf16 autocast (every matmul casts them anyway),
    while the trainable LoRA weights and the tied embeddings stay fp32."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tests.tiny_models import build_tiny

    base = build_tiny("llama", tmp_path / "tiny")
    ids = torch.tensor([[5, 9, 13, 21, 34, 55, 89, 144]])

    def step(freeze: bool) -> tuple[float, dict[str, torch.Tensor], int]:
        torch.manual_seed(0)
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32),
                               LoraConfig(r=4, target_modules=["q_proj", "v_proj", "down_proj"],
                                          init_lora_weights=False))
        frozen = precision.freeze_linears_in_bf16(model) if freeze else 0
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
        assert all(p.dtype == torch.float32 for p in model.parameters() if p.requires_grad)
        assert model.get_input_embeddings().weight.dtype == torch.float32
        return loss.item(), grads, frozen

    plain_loss, plain_grads, _ = step(False)
    loss, grads, frozen = step(True)
    assert frozen == 2 * 7  # every linear of the 2 layers (lm_head is tied to the embeddings: kept)
    assert loss == plain_loss
    for name, grad in grads.items():
        assert torch.equal(grad, plain_grads[name]), name
