"""Benchmark: training tokens/s through Axolotl vs a bare PyTorch LoRA loop, same model, data and settings.

Both train SmolLM2-135M + LoRA (r=32, all linear layers) for --steps steps of one sample each (no padding), in
fp32, on the first --steps samples of data/demo_train.jsonl; then both again under bf16 autocast (what
``--mixed-precision auto`` picks on CPUs with avx512_bf16/AMX), with the precision decision for this machine.
Each path's achieved FLOP/s is printed as a fraction of the matmul peak of its precision, measured in the same run
(bench/cpu_matmul.py's shape), counting 4 x parameters FLOP per token (forward 2N, backward to the activations 2N;
frozen weights get no weight gradients; LoRA adds little). Ends with ``ratio axolotl/bare: R (precision P)`` for
the precision this machine picks. Axolotl runs the recipe as is (its plugins compute the LM head and loss at
labelled positions only: recipes/labelled_logits.py; recipes/frozen_prefix.py stays off, every layer training:
bench/frozen_prefix.py measures it); one more run at this machine's precision without that plugin
shows what it buys, and one bare fp32 run with LoRA on the demo scale's layers only (experiments/matrix.yml) what
that buys. Also prints the padding waste of micro-batches of 4 without packing, and what packing into
sequence_len bins does.
Every timing is the best of --repeats runs (a shared machine's speed varies by 20% from run to run, and drifts
within a run): the bare loop and Axolotl of one precision take turns, so a drift slows both alike.
Usage: python bench/train_throughput.py [--steps 8] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/cpu_matmul.py

from arccommon.paths import EMBEDDED_MODEL_DIR

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / EMBEDDED_MODEL_DIR
DATA = ROOT / "data" / "demo_train.jsonl"
FULL_LOGITS_PLUGINS = ["recipes.cpu_precision.CpuPrecisionPlugin",  # the recipe's plugins less labelled_logits
                       "recipes.frozen_prefix.FrozenPrefixPlugin"]
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


def demo_layers() -> list[int] | None:
    """The layers the demo scale puts LoRA on (experiments/matrix.yml's overrides; None: all)."""
    from experiments.plan import load_matrix, make_scale

    return make_scale(load_matrix(), "demo", {}).overrides.get("peft_layers_to_transform")


def bare_loop_once(samples: list[tuple[torch.Tensor, torch.Tensor]], layers: list[int] | None = None,
              bf16: bool = False) -> float:
    """Seconds for one optimizer step per sample with a plain PyTorch + peft loop (LoRA on ``layers``, or all;
    fp32 weights, under bf16 autocast when ``bf16``)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(MODEL, dtype=torch.float32, attn_implementation="sdpa")
    model = get_peft_model(model, LoraConfig(r=32, lora_alpha=64, lora_dropout=0.0, target_modules=TARGETS,
                                             layers_to_transform=layers))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    model.train()
    start = time.perf_counter()
    lora_steps(model, opt, samples, bf16)
    return time.perf_counter() - start


def lora_steps(model: Any, opt: Any, samples: list[tuple[torch.Tensor, torch.Tensor]], bf16: bool) -> list[float]:
    """One optimizer step per sample (under bf16 autocast when ``bf16``); the losses."""
    losses = []
    for ids, labels in samples:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(input_ids=ids[None], labels=labels[None]).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    return losses


def axolotl_log(steps: int, mixed_precision: str = "no", extra: dict | None = None, processes: int = 1) -> str:
    """Axolotl's output for ``steps`` one-sample steps of recipes/smollm2_cpu.yml on its samples in order (the bare
    loop's), logging every step; ``extra`` overrides recipe keys; ``processes`` data-parallel processes (each step
    then takes one sample per process)."""
    with tempfile.TemporaryDirectory() as tmp:
        sets = {"output_dir": f"{tmp}/out", "dataset_prepared_path": f"{tmp}/prep", "max_steps": steps,
                "save_steps": 10 * steps,  # no checkpoint inside the timing (the bare loop writes none)
                "gradient_accumulation_steps": 1, "micro_batch_size": 1, "logging_steps": 1,
                "shuffle_merged_datasets": False, "curriculum_sampling": True,  # the bare loop's samples, in order
                "sequence_len": 2048, "include_tokens_per_second": True,
                **(extra or {})}
        cmd = [sys.executable, "-m", "recipes", "train", "recipes/smollm2_cpu.yml", "--verbose", "--mixed-precision",
               mixed_precision, "--num-processes", str(processes)]
        for key, value in sets.items():
            cmd += ["--set", f"{key}={json.dumps(value) if not isinstance(value, str) else value}"]
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if res.returncode != 0:
            raise SystemExit(res.stderr[-3000:])
        return res.stdout + res.stderr


def axolotl_run_once(steps: int, mixed_precision: str = "no", extra: dict | None = None) -> tuple[float, int]:
    """(train_runtime s, input tokens seen) reported by the Trainer for :func:`axolotl_log`'s run."""
    return runtime_and_tokens(axolotl_log(steps, mixed_precision, extra))


def runtime_and_tokens(log: str) -> tuple[float, int]:
    """(train_runtime s, input tokens seen): the Trainer's last report in Axolotl's output ``log``."""
    runtime = re.findall(r"'train_runtime': '?([0-9.]+)", log)
    seen = re.findall(r"'num_input_tokens_seen': '?([0-9]+)", log)
    if not runtime or not seen:
        raise SystemExit("no train_runtime / num_input_tokens_seen in Axolotl's output:\n" + log[-3000:])
    return float(runtime[-1]), int(seen[-1])


def padding_waste(lengths: list[int], batch: int, seq_len: int) -> tuple[float, float, float]:
    """Share of padded positions: batches of ``batch`` in random order (the Trainer's sampler), batches of
    similar length (group_by_length), and first-fit-decreasing packing into ``seq_len`` bins."""
    import random

    def waste(order: list[int]) -> float:
        padded = sum(max(order[i:i + batch]) * len(order[i:i + batch]) for i in range(0, len(order), batch))
        return 1 - sum(order) / padded

    shuffled = lengths[:]
    random.Random(0).shuffle(shuffled)
    bins: list[int] = []
    for n in sorted(lengths, reverse=True):
        for i, used in enumerate(bins):
            if used + n <= seq_len:
                bins[i] += n
                break
        else:
            bins.append(n)
    return waste(shuffled), waste(sorted(lengths)), 1 - sum(lengths) / (len(bins) * seq_len)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2, help="time each path this many times, keep the fastest")
    args = ap.parse_args()

    def bare_loop(*a: Any, **k: Any) -> float:
        return min(bare_loop_once(*a, **k) for _ in range(args.repeats))

    def axolotl_run(*a: Any, **k: Any) -> tuple[float, int]:
        return min(axolotl_run_once(*a, **k) for _ in range(args.repeats))

    def both(samples: list[tuple[torch.Tensor, torch.Tensor]], bf16: bool) -> tuple[float, tuple[float, int]]:
        """The bare loop and Axolotl at one precision, taking turns; the best time of each."""
        rounds = [(bare_loop_once(samples, bf16=bf16), axolotl_run_once(args.steps, "bf16" if bf16 else "no"))
                  for _ in range(args.repeats)]
        return min(r[0] for r in rounds), min(r[1] for r in rounds)

    torch.manual_seed(0)
    samples = tokenized_samples(args.steps)
    tokens = sum(len(ids) for ids, _ in samples)
    print(f"{args.steps} steps, {tokens} tokens (one sample per step, fp32, LoRA r=32), best of {args.repeats}",
          flush=True)
    bare_s, (axo_s, axo_tokens) = both(samples, bf16=False)
    print(f"bare PyTorch loop: {bare_s:6.1f} s  {tokens / bare_s:6.1f} tok/s", flush=True)
    ratio = (axo_tokens / axo_s) / (tokens / bare_s)
    print(f"Axolotl:           {axo_s:6.1f} s  {axo_tokens / axo_s:6.1f} tok/s ({axo_tokens} tokens seen)  "
          f"ratio Axolotl/bare = {ratio:.2f}")
    from transformers import AutoConfig

    n_layers = AutoConfig.from_pretrained(MODEL).num_hidden_layers
    layers = demo_layers() or list(range(n_layers))
    top_s = bare_loop(samples, layers)
    print(f"bare loop, LoRA on the demo's {len(layers)} of {n_layers} layers: {top_s:6.1f} s  "
          f"{tokens / top_s:6.1f} tok/s  x{bare_s / top_s:.2f} vs all layers")
    from arccommon.precision import decide_precision

    bf16_s, (axo16_s, axo16_tokens) = both(samples, bf16=True)
    print(f"bare loop, bf16 autocast:  {bf16_s:6.1f} s  {tokens / bf16_s:6.1f} tok/s  x{bare_s / bf16_s:.2f} vs fp32",
          flush=True)
    print(f"Axolotl, bf16 autocast:    {axo16_s:6.1f} s  {axo16_tokens / axo16_s:6.1f} tok/s  "
          f"x{(axo16_tokens / axo16_s) / (axo_tokens / axo_s):.2f} vs Axolotl fp32")
    print(f"auto on this machine: {decide_precision('cpu').line()}")
    chosen = decide_precision("cpu").dtype
    rates = {"float32": (tokens / bare_s, axo_tokens / axo_s), "bfloat16": (tokens / bf16_s, axo16_tokens / axo16_s)}
    full_s, full_tokens = axolotl_run(args.steps, "bf16" if chosen == "bfloat16" else "no",
                                      {"plugins": FULL_LOGITS_PLUGINS})
    print(f"Axolotl without recipes.labelled_logits ({chosen}, LM head at every position): {full_s:6.1f} s  "
          f"{full_tokens / full_s:6.1f} tok/s; the plugin makes it x{rates[chosen][1] / (full_tokens / full_s):.2f}")
    from cpu_matmul import gflops
    from transformers import AutoModelForCausalLM
    n_params = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(MODEL).parameters())
    per_token = 4 * n_params / 1e9  # GFLOP per trained token
    peaks = {"float32": max(gflops(torch.float32) for _ in range(3)),
             "bfloat16": max(gflops(torch.bfloat16) for _ in range(3))}
    for dtype, (bare, axo) in rates.items():
        print(f"{dtype}: matmul peak {peaks[dtype]:.0f} GFLOP/s; bare loop {bare * per_token:.1f} GFLOP/s "
              f"({bare * per_token / peaks[dtype]:.0%} of peak), Axolotl {axo * per_token:.1f} GFLOP/s "
              f"({axo * per_token / peaks[dtype]:.0%}); {per_token:.2f} GFLOP per token")
    lengths = [json.loads(line)["n_tokens"] for line in DATA.open()]
    shuffled, grouped, packed = padding_waste(lengths, 4, 1024)
    print(f"padding waste of {DATA.name}, micro-batch 4: random order {shuffled:.1%}, grouped by length "
          f"{grouped:.1%}; packed into 1024-token bins {packed:.1%}")
    bare, axo = rates[chosen]
    print(f"ratio axolotl/bare: {axo / bare:.2f} (precision {chosen})")


if __name__ == "__main__":
    main()
