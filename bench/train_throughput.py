"""Benchmark: training tokens/s through Axolotl vs a bare PyTorch LoRA loop, same model, data and settings.

Both train SmolLM2-135M + LoRA (r=32, all linear layers) for --steps steps of one sample each (no padding), in
fp32 (as CPU recipes train), on the first --steps samples of data/demo_train.jsonl. Also prints the padding
waste of micro-batches of 4 without packing, and what packing into sequence_len bins does to it.
Usage: python bench/train_throughput.py [--steps 8]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "smollm2-135m-instruct"
DATA = ROOT / "data" / "demo_train.jsonl"
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def tokenized_samples(n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(input_ids, labels) with loss on the assistant turn only, as Axolotl's chat_template strategy does."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(MODEL)
    out = []
    for line in DATA.open():
        if len(out) == n:
            break
        messages = json.loads(line)["messages"]
        prompt = tok.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=True, return_dict=True)
        full = tok.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
        ids = torch.tensor(full[:-1])  # drop the trailing newline after <|im_end|>
        labels = ids.clone()
        labels[: len(prompt["input_ids"])] = -100
        out.append((ids, labels))
    return out


def bare_loop(samples: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Seconds for one optimizer step per sample with a plain PyTorch + peft loop."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(MODEL, dtype=torch.float32, attn_implementation="sdpa")
    model = get_peft_model(model, LoraConfig(r=32, lora_alpha=64, lora_dropout=0.0, target_modules=TARGETS))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    model.train()
    start = time.perf_counter()
    for ids, labels in samples:
        loss = model(input_ids=ids[None], labels=labels[None]).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def axolotl_run(steps: int, extra: dict | None = None) -> float:
    """train_runtime (s) reported by the Trainer for ``steps`` one-sample steps of recipes/smollm2_cpu.yml."""
    with tempfile.TemporaryDirectory() as tmp:
        sets = {"output_dir": f"{tmp}/out", "dataset_prepared_path": f"{tmp}/prep", "max_steps": steps,
                "gradient_accumulation_steps": 1, "micro_batch_size": 1, "save_steps": steps, "logging_steps": 1,
                "shuffle_merged_datasets": False, "sequence_len": 2048, **(extra or {})}
        cmd = [sys.executable, "-m", "arcprep", "train", "recipes/smollm2_cpu.yml"]
        for key, value in sets.items():
            cmd += ["--set", f"{key}={json.dumps(value) if not isinstance(value, str) else value}"]
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if res.returncode != 0:
            raise SystemExit(res.stderr[-3000:])
        state = json.loads(next(Path(tmp, "out").glob("checkpoint-*/trainer_state.json")).read_text())
        return float(state["log_history"][-1]["train_runtime"])


def padding_waste(lengths: list[int], batch: int, seq_len: int) -> tuple[float, float]:
    """(waste padding to the longest of each batch of ``batch``, waste packing first-fit-decreasing into seq_len)."""
    padded = sum(max(lengths[i:i + batch]) * len(lengths[i:i + batch]) for i in range(0, len(lengths), batch))
    bins: list[int] = []
    for n in sorted(lengths, reverse=True):
        for i, used in enumerate(bins):
            if used + n <= seq_len:
                bins[i] += n
                break
        else:
            bins.append(n)
    total = sum(lengths)
    return 1 - total / padded, 1 - total / (len(bins) * seq_len)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=8)
    args = ap.parse_args()
    torch.manual_seed(0)
    samples = tokenized_samples(args.steps)
    tokens = sum(len(ids) for ids, _ in samples)
    bare_s = bare_loop(samples)
    axo_s = axolotl_run(args.steps)
    print(f"{args.steps} steps, {tokens} tokens (one sample per step, fp32, LoRA r=32)")
    print(f"bare PyTorch loop: {bare_s:6.1f} s  {tokens / bare_s:6.1f} tok/s")
    print(f"Axolotl:           {axo_s:6.1f} s  {tokens / axo_s:6.1f} tok/s  ratio Axolotl/bare = {bare_s / axo_s:.2f}")
    lengths = [json.loads(line)["n_tokens"] for line in DATA.open()]
    pad, pack = padding_waste(lengths, 4, 1024)
    print(f"padding waste, micro-batch 4 unpacked: {pad:.1%}; packed into 1024-token bins: {pack:.1%}")


if __name__ == "__main__":
    main()
