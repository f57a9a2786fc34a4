"""evalkit's vLLM engine: the same predictions as the HF engine in fp32 (embedded model, two per-task adapters and a
fallback), resuming, and one-line errors for a missing environment, a taken port, a server that dies at start-up or
mid-run, and an adapter it refuses.

The tests that start vLLM need its environment (``make install-vllm``); they are skipped without it, except under
CI, whose ``.ci/run`` installs it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from pathlib import Path

import pytest
import torch

from arccommon.errors import UserError
from evalkit.vllm_server import PYTHON_ENV, VLLMServer, vllm_python

EVAL_TASKS = ["66e6c45b", "e633a9e5", "be03b35f"]  # small eval tasks: short prompts on a CPU


def _have_vllm() -> bool:
    try:
        vllm_python()
    except UserError:
        return False
    return True


needs_vllm = pytest.mark.skipif(not _have_vllm() and not os.environ.get("CI"),
                                reason="vLLM's environment is not installed (make install-vllm)")


@pytest.fixture(scope="module")
def trained(model_dir, tmp_path_factory) -> Path:
    """A LoRA adapter shaped like the CPU recipes' (r=32, every linear layer of the top 10 layers), trained for a
    few steps on the demo's ARC samples (a plain peft loop: this test is about engines), so it answers in grids."""
    import random

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tests.conftest import ROOT

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir), LoraConfig(
        r=32, lora_alpha=64, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                             "down_proj"], layers_to_transform=list(range(20, 30))))
    lines = (ROOT / "data" / "demo_train.jsonl").read_text().splitlines()
    samples = [json.loads(line)["messages"] for line in random.Random(0).sample(lines, 24)]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    model.train()
    for messages in samples:
        ids = torch.tensor([tok.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    out = tmp_path_factory.mktemp("trained")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _adapter(trained: Path, out: Path, scale: float) -> Path:
    """``trained`` with its LoRA update scaled: a different adapter that still answers in grids."""
    import shutil

    from safetensors.torch import load_file, save_file

    shutil.copytree(trained, out)
    weights = load_file(out / "adapter_model.safetensors")
    save_file({k: v * scale if "lora_B" in k else v for k, v in weights.items()}, out / "adapter_model.safetensors")
    return out


def _evaluate(engine: str, out: Path, per_task: Path, fallback: Path, **extra):
    from evalkit.evaluator import EvalRequest, evaluate_split

    request = EvalRequest(split="eval", tasks=EVAL_TASKS, adapter=fallback, adapter_per_task=per_task,
                          augmentations=2, dtype="float32", device="cpu", out=out, engine=engine, progress=False,
                          **extra)
    return evaluate_split(request)[0]


@pytest.mark.slow
@needs_vllm
def test_both_engines_write_the_same_predictions_in_fp32(trained, tmp_path):
    per_task = tmp_path / "adapters"
    _adapter(trained, per_task / EVAL_TASKS[0], 1.0)
    _adapter(trained, per_task / EVAL_TASKS[1], 0.8)
    fallback = _adapter(trained, tmp_path / "fallback", 0.9)  # the third task's
    hf = _evaluate("hf", tmp_path / "hf", per_task, fallback)
    vllm = _evaluate("vllm", tmp_path / "vllm", per_task, fallback)
    assert (tmp_path / "vllm" / "predictions.json").read_text() == (tmp_path / "hf" / "predictions.json").read_text()
    records = {engine: {r["task_id"]: r for r in map(json.loads, (tmp_path / engine / "per_task.jsonl").open())}
               for engine in ("hf", "vllm")}
    for task in EVAL_TASKS:
        assert records["vllm"][task]["adapter"] == records["hf"][task]["adapter"]
        parsed = [[c["grid"] for c in records[e][task]["candidates"]] for e in ("hf", "vllm")]
        assert parsed[0] == parsed[1], task
    assert [records["vllm"][t]["adapter"] for t in EVAL_TASKS] == [*EVAL_TASKS[:2], "fallback"]
    assert any(c["grid"] is not None for r in records["vllm"].values() for c in r["candidates"])
    assert vllm["score"] == hf["score"]

    # resume: a task whose line is gone is predicted again, the others are kept
    lines = (tmp_path / "vllm" / "per_task.jsonl").read_text().splitlines()
    (tmp_path / "vllm" / "per_task.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    (tmp_path / "vllm" / "summary.json").unlink()
    _evaluate("vllm", tmp_path / "vllm", per_task, fallback)
    assert (tmp_path / "vllm" / "predictions.json").read_text() == (tmp_path / "hf" / "predictions.json").read_text()


@pytest.mark.slow
@needs_vllm
def test_a_refused_adapter_and_a_dead_server_are_one_line_each(model_dir, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))  # no weights
    server = VLLMServer.start(str(model_dir), "float32", tmp_path / "server.log", max_lora_rank=32)
    try:
        with pytest.raises(UserError, match=r"broken: vLLM refused this adapter"):
            server.load_lora("broken", broken)
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()
        with pytest.raises(UserError, match=r"vLLM server exited with status -9 mid-run.*log: .*server.log"):
            server.request("GET", "/v1/models")
    finally:
        server.stop()


def test_missing_environment_names_the_install_step(tmp_path, monkeypatch):
    monkeypatch.setenv(PYTHON_ENV, str(tmp_path / "nope" / "python"))
    with pytest.raises(UserError, match=r"nope/python: vLLM's environment is missing: run `make install-vllm`"):
        VLLMServer.start("models/x", "float32", tmp_path / "log")


def test_a_taken_port_is_refused_before_starting(tmp_path, monkeypatch):
    monkeypatch.setenv(PYTHON_ENV, sys.executable)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=rf"port {port} on 127.0.0.1 is already taken"):
            VLLMServer.start("models/x", "float32", tmp_path / "log", port=port)


def test_a_server_that_dies_at_start_up_is_one_line_with_its_log(tmp_path, monkeypatch):
    monkeypatch.setenv(PYTHON_ENV, sys.executable)  # an environment without vLLM: the server cannot start
    with pytest.raises(UserError, match=r"exited with status 1 during start-up \(.*No module named .vllm"):
        VLLMServer.start("models/x", "float32", tmp_path / "server.log", timeout_s=60)


def test_evalkit_cli_reports_a_missing_vllm_environment_in_one_line(model_dir, tmp_path):
    import subprocess

    env = {**os.environ, PYTHON_ENV: str(tmp_path / "none" / "python")}
    res = subprocess.run([sys.executable, "-m", "evalkit", "--engine", "vllm", "--base", str(model_dir), "--split",
                          "eval", "--limit", "1", "--out", str(tmp_path / "out"), "--quiet"],
                         capture_output=True, text=True, env=env)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith("error: ") and "make install-vllm" in res.stderr
    assert "Traceback" not in res.stderr
