"""Per-task adapters: one base in memory, each task predicted with its own LoRA adapter, the base never altered."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from arccommon.errors import UserError
from evalkit.model import TaskAdapters, task_adapters
from tests.tiny_models import build_tiny


def _adapter(base: Path, out: Path, seed: int) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                           LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    model.save_pretrained(out)
    return out


def _logits(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(input_ids=ids).logits


def _merged(base: Path, adapter: Path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    return PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), adapter).merge_and_unload().eval()


def test_each_task_gets_its_own_adapter_and_the_rest_the_fallback(tmp_path):
    from transformers import AutoModelForCausalLM

    base = build_tiny("llama", tmp_path / "tiny")
    folder = tmp_path / "per_task"
    a = _adapter(base, folder / "task_a", 1)
    _adapter(base, folder / "task_b" / "adapter", 2)  # an output_dir holding the adapter also counts
    fallback = _adapter(base, tmp_path / "start", 3)
    ids = torch.tensor([[1, 2, 3, 4, 5, 6]])
    plain = AutoModelForCausalLM.from_pretrained(base).eval()
    expected = {name: _logits(_merged(base, path), ids) for name, path in
                {"task_a": a, "task_b": folder / "task_b" / "adapter", "fallback": fallback}.items()}

    switch = TaskAdapters(AutoModelForCausalLM.from_pretrained(base).eval(), task_adapters(folder), fallback)
    for task, active in [("task_a", "task_a"), ("task_b", "task_b"), ("other", "fallback"), ("task_a", "task_a")]:
        assert switch.use(task) == active
        torch.testing.assert_close(_logits(switch.model, ids), expected[active], atol=1e-4, rtol=1e-4)
    assert set(switch.model.peft_config) == {"fallback", "task_a"}  # the previous task's adapter was dropped

    bare = TaskAdapters(AutoModelForCausalLM.from_pretrained(base).eval(), task_adapters(folder), None)
    assert bare.use("other") == "base"
    torch.testing.assert_close(_logits(bare.model, ids), _logits(plain, ids))
    assert bare.use("task_b") == "task_b"
    torch.testing.assert_close(_logits(bare.model, ids), expected["task_b"], atol=1e-4, rtol=1e-4)


def test_missing_or_empty_folder_is_a_one_line_error(tmp_path):
    with pytest.raises(UserError, match="no such folder of per-task adapters"):
        task_adapters(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no per-task adapter folders"):
        task_adapters(tmp_path / "empty")
