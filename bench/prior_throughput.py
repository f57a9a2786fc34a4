"""Benchmark: training speed on the broad prior's data, today's CPU recipe against the prior's, and the trainer levers.

Samples: --samples drawn (seed 0) from data/arc1_train_prior.jsonl, so their lengths follow the prior's real
distribution (median ~915 tokens, p90 ~1,830). Every timing is one optimizer step per sample, the first step
excluded from none (both sides pay it alike), best of --repeats; paths that are compared take turns, so a shared
box's drift slows both alike.
- Axolotl, recipes/smollm2_cpu.yml as is (LoRA on all 30 layers: "today") and with the prior recipe's LoRA layers
  (recipes/smollm2_cpu_prior.yml: the top 10, so the backward stops at layer 20 and recipes/frozen_prefix.py runs
  layers 0-19 without autograd), both at this machine's precision.
- A bare PyTorch + peft loop (LoRA on all layers; at bf16 under autocast with frozen weights in bf16, else fp32)
  with one lever at a time: eager attention instead of SDPA's CPU flash kernel; each decoder layer compiled by
  torch.compile (dynamic shapes; compiled before the timing); the LoRA weights in bf16 as well (no autocast; Adam
  then updates bf16 weights).
Achieved FLOP/s count the matmul work a step must do: 2 x linear weights per token forward through all layers,
2 x those of the layers the backward crosses, and attention's QK^T and PV (causal) on the same terms; the share is
of the bf16 (or fp32) matmul peak of bench/cpu_matmul.py measured in the same run, before and after.
Ends with ``prior speed-up: R (precision P)``: the prior recipe's tokens/s over today's, in Axolotl.
Usage: python bench/prior_throughput.py [--samples 8] [--repeats 2] [--profile]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/cpu_matmul.py, train_throughput.py, frozen_prefix.py

from frozen_prefix import subset  # noqa: E402

from arccommon.paths import EMBEDDED_MODEL_DIR

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / EMBEDDED_MODEL_DIR
DATA = ROOT / "data" / "arc1_train_prior.jsonl"
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def tokenized(data: Path) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(input_ids, labels) per sample, the loss on the tokens of every assistant turn."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(MODEL)
    out = []
    for line in data.open(encoding="utf-8"):
        messages = json.loads(line)["messages"]
        ids: list[int] = []
        labels: list[int] = []
        for i in range(len(messages)):
            upto = tok.apply_chat_template(messages[:i + 1], tokenize=True, return_dict=True)["input_ids"]
            new = upto[len(ids):]
            ids += new
            labels += new if messages[i]["role"] == "assistant" else [-100] * len(new)
        out.append((torch.tensor(ids), torch.tensor(labels)))
    return out


def step_flops(samples: list[tuple[torch.Tensor, torch.Tensor]], backward_layers: int) -> float:
    """Matmul FLOPs of one pass over ``samples``: linear layers forward (30) and backward (``backward_layers``),
    causal attention likewise (LM head and LoRA left out: small at labelled positions and rank 32)."""
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(MODEL)
    d, kv = cfg.hidden_size, cfg.num_key_value_heads * (cfg.hidden_size // cfg.num_attention_heads)
    linear = 2 * d * d + 2 * d * kv + 3 * d * cfg.intermediate_size
    total = 0.0
    for ids, _ in samples:
        t = len(ids)
        per_layer = 2 * linear * t + 2 * d * t * t  # QK^T and PV, causal: 2 x (2 t^2 d / 2)
        total += per_layer * (cfg.num_hidden_layers + 2 * backward_layers)
    return total


def axolotl_once(data: Path, steps: int, extra: dict[str, Any]) -> tuple[float, int, list[float]]:
    """(train_runtime s, tokens seen, losses) of ``steps`` one-sample steps of recipes/smollm2_cpu.yml on ``data``
    in order, with ``extra`` recipe keys."""
    from recipes.prior import read_log

    with tempfile.TemporaryDirectory() as tmp:
        dataset = {"path": str(data), "ds_type": "json", "type": "chat_template", "field_messages": "messages",
                   "roles_to_train": ["assistant"], "train_on_eos": "turn"}
        sets = {"datasets": [dataset], "output_dir": f"{tmp}/out", "dataset_prepared_path": f"{tmp}/prep",
                "max_steps": steps, "save_steps": 10 * steps, "gradient_accumulation_steps": 1,
                "micro_batch_size": 1, "logging_steps": 1, "shuffle_merged_datasets": False,
                "curriculum_sampling": True, "sequence_len": 2048, "include_tokens_per_second": True, **extra}
        cmd = [sys.executable, "-m", "recipes", "train", "recipes/smollm2_cpu.yml"]
        for key, value in sets.items():
            cmd += ["--set", f"{key}={json.dumps(value)}"]
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if res.returncode != 0:
            raise SystemExit(res.stderr[-3000:])
        log = Path(tmp) / "out" / "train.log"
        curve, _, ends = read_log(log)
        return float(ends[-1]["train_runtime"]), int(ends[-1]["num_input_tokens_seen"]), [v for _, v in curve]


def bare_once(samples: list[tuple[torch.Tensor, torch.Tensor]], lever: str, bf16: bool,
              profile: bool = False) -> tuple[float, list[float]]:
    """(seconds, losses) of one AdamW step per sample, LoRA r32 on every layer, with one ``lever``:
    sdpa (the baseline: SDPA; with ``bf16`` under bf16 autocast, frozen weights in bf16, else all fp32) | eager |
    compiled | bf16_lora (bf16 only). With ``profile``, prints torch.profiler's top operators by self CPU time over
    those steps."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from train_throughput import lora_steps

    from arccommon.precision import freeze_linears_in_bf16

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(MODEL, dtype=torch.float32,
                                                 attn_implementation="eager" if lever == "eager" else "sdpa")
    model = get_peft_model(model, LoraConfig(r=32, lora_alpha=64, lora_dropout=0.0, target_modules=TARGETS))
    if bf16:
        freeze_linears_in_bf16(model)
    autocast = bf16 and lever != "bf16_lora"
    if lever == "bf16_lora":
        model.to(torch.bfloat16)
    if lever == "compiled":  # compiled once, outside the timing: a forward and backward of the first sample
        for layer in model.get_base_model().model.layers:
            layer.compile(dynamic=True)
        ids, labels = samples[0]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            model(input_ids=ids[None], labels=labels[None]).loss.backward()
        model.zero_grad(set_to_none=True)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    model.train()
    from contextlib import nullcontext

    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as profiler

    start = time.perf_counter()
    with profiler(activities=[ProfilerActivity.CPU]) if profile else nullcontext() as prof:
        losses = lora_steps(model, opt, samples, autocast)
    seconds = time.perf_counter() - start
    if prof is not None:
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12, max_name_column_width=56))
    return seconds, losses


def best_of(repeats: int, runs: dict[str, Callable[[], tuple]]) -> dict[str, tuple]:
    """Each of ``runs`` ``repeats`` times, taking turns; the fastest result of each (first field: seconds)."""
    best: dict[str, tuple] = {}
    for _ in range(repeats):
        for name, fn in runs.items():
            result = fn()
            if name not in best or result[0] < best[name][0]:
                best[name] = result
            print(f"  {name}: {result[0]:.1f} s", flush=True)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=8, help="samples drawn from the prior's data (one per step)")
    ap.add_argument("--repeats", type=int, default=2, help="time each path this many times, keep the fastest")
    ap.add_argument("--profile", action="store_true",
                    help="first print where a bare-loop step's time goes (torch.profiler, the sdpa baseline)")
    args = ap.parse_args()
    from cpu_matmul import gflops

    from arccommon.precision import decide_precision
    from recipes.check import load_recipe

    precision = decide_precision("cpu")
    dtype = getattr(torch, precision.dtype)
    bf16 = precision.dtype == "bfloat16"
    peak_before = max(gflops(dtype) for _ in range(3))
    prior = load_recipe(ROOT / "recipes" / "smollm2_cpu_prior.yml")
    layers = prior["peft_layers_to_transform"]
    epoch_tokens = json.loads(DATA.with_suffix("").with_suffix(".manifest.json").read_text())["tokens"]["total"]
    with tempfile.TemporaryDirectory() as tmp:
        data = subset(DATA, args.samples, Path(tmp) / "sample.jsonl", seed=0)
        samples = tokenized(data)
        tokens = sum(len(ids) for ids, _ in samples)
        print(f"{args.samples} samples of {DATA.name} ({tokens} tokens, {min(len(i) for i, _ in samples)}-"
              f"{max(len(i) for i, _ in samples)} each), one per step, best of {args.repeats}; {precision.line()}",
              flush=True)
        if args.profile:
            print(f"profile of the bare loop (sdpa, {'bf16 autocast' if bf16 else 'fp32'}, LoRA on 30 layers), "
                  "self CPU time:")
            bare_once(samples, "sdpa", bf16, profile=True)
        axo = best_of(args.repeats, {
            "today": lambda: axolotl_once(data, args.samples, {}),
            "prior": lambda: axolotl_once(data, args.samples, {"peft_layers_to_transform": layers})})
        levers = ("sdpa", "eager", "compiled") + (("bf16_lora",) if bf16 else ())
        bare = best_of(args.repeats, {lever: (lambda lever=lever: bare_once(samples, lever, bf16)) for lever in levers})
    peak = max(peak_before, max(gflops(dtype) for _ in range(3)))
    flops_all, flops_top = step_flops(samples, 30), step_flops(samples, 30 - min(layers))

    def line(label: str, seconds: float, n_tokens: int, flops: float, losses: list[float]) -> str:
        rate = n_tokens / seconds
        return (f"{label:<44} {rate:6.1f} tok/s  {flops / seconds / 1e9:6.1f} GFLOP/s ({flops / seconds / 1e9 / peak:4.0%}"
                f" of peak)  epoch {epoch_tokens / rate / 3600:4.1f} h  losses {losses[0]:.3f} .. {losses[-1]:.3f}")

    print(f"{precision.dtype} matmul peak {peak:.0f} GFLOP/s (best of before {peak_before:.0f} and after)")
    print(line("Axolotl, today's recipe (LoRA on 30 layers)", axo["today"][0], axo["today"][1], flops_all,
               axo["today"][2]))
    print(line(f"Axolotl, the prior's LoRA layers ({len(layers)} of 30)", axo["prior"][0], axo["prior"][1],
               flops_top, axo["prior"][2]))
    for lever in levers:
        seconds, losses = bare[lever]
        print(line(f"bare loop, 30 layers, {lever}", seconds, tokens, flops_all, losses)
              + f"  x{bare['sdpa'][0] / seconds:.2f} vs sdpa")
    ratio = (axo["prior"][1] / axo["prior"][0]) / (axo["today"][1] / axo["today"][0])
    print(f"prior speed-up: {ratio:.2f} (precision {precision.dtype})")


if __name__ == "__main__":
    main()
