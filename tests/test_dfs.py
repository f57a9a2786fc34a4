"""Depth-first sampling (evalkit/dfs.py) on a tiny real model: its first answer is greedy decoding's, and with no
cap it finds exactly the answers a brute-force enumeration finds above the threshold."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
import torch

from tests.tiny_models import build_tiny

PROMPTS = ["<|im_start|>user\n12\n34<|im_end|>\n<|im_start|>assistant\n",
           "<|im_start|>user\n5\n<|im_end|>\n<|im_start|>assistant\n"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, model_dir: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = build_tiny("llama", tmp_path_factory.mktemp("dfs") / "tiny", tokenizer_dir=model_dir)
    return AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def answer_logprob(model, tokenizer, prompt: str, tokens: list[int], allowed: torch.Tensor) -> float:
    """Teacher-forced log-probability of ``tokens`` after ``prompt`` under the grid-only distribution."""
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"][0].tolist()
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ids + tokens])).logits[0]
    total = 0.0
    for k, token in enumerate(tokens):
        logprobs = torch.log_softmax(logits[len(ids) - 1 + k][allowed].float(), dim=-1)
        total += float(logprobs[(allowed == token).nonzero()[0, 0]])
    return total


@pytest.mark.parametrize("prompt", PROMPTS)
def test_first_answer_is_the_greedy_one(tiny, prompt: str) -> None:
    from evalkit.dfs import Explorer, explore
    from evalkit.generate import generate_batch

    model, tokenizer = tiny
    greedy = generate_batch(model, tokenizer, [prompt], 24)[0]
    found = explore(model, tokenizer, prompt, Explorer.for_tokenizer(tokenizer, 0.05, 6), 24)
    assert found[0].text == greedy.text and found[0].finished == greedy.finished
    assert found[0].mean_logprob == pytest.approx(greedy.mean_logprob, abs=1e-4)
    assert len({g.text for g in found}) == len(found) <= 6


@pytest.mark.parametrize("prompt", PROMPTS)
def test_finds_every_answer_above_the_threshold(tiny, prompt: str) -> None:
    from evalkit.dfs import Explorer, explore
    from evalkit.generate import RaggedStop

    model, tokenizer = tiny
    ex = Explorer.for_tokenizer(tokenizer, 0.01, 10_000, 10_000)
    cap = 3
    allowed = ex.allowed.tolist()
    expected = set()
    for n in range(1, cap + 1):  # every answer of n tokens: n - 1 grid tokens, then end of turn
        for body in itertools.product([t for t in allowed if t != ex.eos], repeat=n - 1):
            tokens = [*body, ex.eos]
            stop = RaggedStop(0, ex.digits, ex.newline)
            if any(bool(stop(torch.tensor([[t]]), None)[0]) for t in tokens):
                continue
            if answer_logprob(model, tokenizer, prompt, tokens, ex.allowed) >= math.log(ex.threshold):
                expected.add(tokenizer.decode(tokens, skip_special_tokens=True))
    found = explore(model, tokenizer, prompt, ex, cap)
    above = {g.text for g in found[1:]} | ({found[0].text} if found[0].finished and
                                           found[0].mean_logprob * found[0].new_tokens >= math.log(ex.threshold)
                                           else set())
    assert expected, "the tiny model should put some answers above 1%"
    assert above == expected
    logps = [g.mean_logprob * g.new_tokens for g in found[1:]]
    assert logps == sorted(logps, reverse=True)  # most probable first (after the greedy answer)


def test_dfs_runs_through_evalkit(tiny, tmp_path: Path, task_folder: Path) -> None:
    """--dfs adds candidates (a superset of greedy's) and is recorded in run.json; bad values are one line."""
    from arccommon.errors import UserError
    from evalkit.evaluator import evaluate_split
    from evalkit.request import EvalRequest
    from evalkit.run import finished_tasks

    model, tokenizer = tiny
    base = tmp_path / "base"
    model.save_pretrained(base)
    tokenizer.save_pretrained(base)
    common = dict(split=str(task_folder), base=str(base), augmentations=1, device="cpu", dtype="float32",
                  max_new_tokens=24, progress=False)
    _, plain = evaluate_split(EvalRequest(out=tmp_path / "greedy", **common))
    _, dfs = evaluate_split(EvalRequest(out=tmp_path / "dfs", dfs=0.05, dfs_max=3, **common))
    greedy, explored = finished_tasks(plain), finished_tasks(dfs)
    more = 0
    for task_id, rec in greedy.items():
        texts = [c["text"] for c in explored[task_id]["candidates"]]
        assert texts[0] == rec["candidates"][0]["text"]
        more += len(texts) - 1
    assert more > 0
    assert '"dfs_threshold": 0.05' in (dfs / "run.json").read_text()
    for bad in (dict(dfs=1.5), dict(dfs=0.1, engine="vllm"), dict(dfs=0.1, dfs_max=0)):
        with pytest.raises(UserError, match="--dfs"):
            evaluate_split(EvalRequest(out=tmp_path / "bad", **{**common, **bad}))
