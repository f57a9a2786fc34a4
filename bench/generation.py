"""Benchmark: evalkit's generation vs naive one-prompt-at-a-time ``model.generate``, same model and prompts.

Adds evalkit's speed-ups one at a time and prints generated tokens/s, wall time and the ratio to the naive
baseline measured in the same run:
  naive       fp32, batch 1, free decoding (stops at end of turn or the cap)
  +grid       decoding restricted to digits/newline/end of turn, runaway rows stopped (RaggedStop)
  +batch B    prompts sorted by length, B per batch (left padding)
  +bf16       bf16 weights (fast only where the CPU has avx512_bf16/amx; evalkit's --dtype auto decides)
  +static     static KV cache (cache_implementation="static")
Usage: python bench/generation.py [--prompts 8] [--adapter DIR] [--batch 8]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def prompts(n: int, settings, tokenizer) -> list[str]:
    """The first ``n`` test prompts of small ARC-1 train tasks (every grid at most 10x10), as evalkit renders them."""
    from arcprep.sources import load_source
    from evalkit.predict import work_items

    small = [t for t in load_source("train").tasks
             if all(max(len(g), len(g[0])) <= 10 for p in t.train + t.test for g in (p.input, p.output))]
    convs = [w.messages for t in small for w in work_items(t, 1, 0, settings)][:n]
    return tokenizer.apply_chat_template(convs, tokenize=False, add_generation_prompt=True)


def naive(model, tokenizer, texts: list[str], cap: int) -> tuple[float, int]:
    """(seconds, generated tokens) generating each prompt alone with plain ``generate``."""
    start, new = time.perf_counter(), 0
    for text in texts:
        enc = tokenizer(text, return_tensors="pt", add_special_tokens=False)
        out = model.generate(**enc, max_new_tokens=cap, do_sample=False, eos_token_id=tokenizer.eos_token_id,
                             pad_token_id=tokenizer.pad_token_id)
        new += out.shape[1] - enc["input_ids"].shape[1]
    return time.perf_counter() - start, new


@torch.inference_mode()
def prefill_only(model, tokenizer, texts: list[str]) -> float:
    """Seconds for one forward pass over each prompt: what any way of generating must at least spend."""
    start = time.perf_counter()
    for text in texts:
        model(**tokenizer(text, return_tensors="pt", add_special_tokens=False), logits_to_keep=1)
    return time.perf_counter() - start


def evalkit_way(model, tokenizer, texts: list[str], cap: int, batch: int, **generate_kwargs) -> tuple[float, int]:
    """(seconds, generated tokens) with evalkit's generate_batch over length-sorted batches."""
    from evalkit.generate import generate_batch

    order = sorted(texts, key=len)
    start, new = time.perf_counter(), 0
    for i in range(0, len(order), batch):
        new += sum(g.new_tokens for g in generate_batch(model, tokenizer, order[i:i + batch], cap, **generate_kwargs))
    return time.perf_counter() - start, new


def main() -> None:
    from arccommon.paths import EMBEDDED_MODEL_DIR
    from arccommon.precision import cpu_bf16_flags
    from evalkit.model import load_model, resolve_base
    from recipes.record import prompt_settings

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--adapter", type=Path, default=ROOT / "experiments" / "work" / "demo" / "runs" / "train" / "adapter",
                    help="adapter to generate with (default: the one `make demo` trains; base model if missing)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=111, help="cap: a 10x10 grid + newlines + end of turn")
    args = ap.parse_args()
    torch.manual_seed(0)
    adapter = args.adapter if (args.adapter / "adapter_config.json").exists() else None
    base = resolve_base(adapter, None if adapter else str(ROOT / EMBEDDED_MODEL_DIR))
    settings = prompt_settings(adapter)
    model32, tok = load_model(base, adapter, "cpu", "float32")
    texts = prompts(args.prompts, settings, tok)
    n_prompt = sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts)
    shown = adapter.relative_to(ROOT) if adapter and adapter.is_relative_to(ROOT) else adapter
    print(f"{len(texts)} prompts, {n_prompt} prompt tokens, cap {args.max_new_tokens} new tokens, "
          f"adapter {shown or 'none (base model)'}, torch threads {torch.get_num_threads()}", flush=True)
    rows = []

    def report(name: str, seconds: float, new: int) -> None:
        rows.append((name, seconds, new))
        base_s, base_new = rows[0][1], rows[0][2]
        print(f"{name:<28} {seconds:7.1f} s  {new:5d} tokens  {new / seconds:7.1f} tok/s  "
              f"x{(new / seconds) / (base_new / base_s):5.2f} tok/s  x{base_s / seconds:5.2f} wall", flush=True)

    report("naive (fp32, batch 1)", *naive(model32, tok, texts, args.max_new_tokens))
    report("+grid decoding", *evalkit_way(model32, tok, texts, args.max_new_tokens, 1))
    report(f"+batch {args.batch // 2}", *evalkit_way(model32, tok, texts, args.max_new_tokens, args.batch // 2))
    report(f"+batch {args.batch}", *evalkit_way(model32, tok, texts, args.max_new_tokens, args.batch))
    floor = prefill_only(model32, tok, texts)
    print(f"{'prompt prefill alone':<28} {floor:7.1f} s  (a floor for any method: at most x{rows[0][1] / floor:.1f} "
          "over naive on these prompts)", flush=True)
    report(f"+static cache (batch {args.batch})", *evalkit_way(model32, tok, texts, args.max_new_tokens, args.batch,
                                                               cache_implementation="static"))
    if not cpu_bf16_flags():
        print("+bf16: skipped, this CPU has no avx512_bf16/amx_bf16 (bf16 matmuls fall back to a slow path; "
              "evalkit's --dtype auto picks fp32 here)")
        return
    del model32
    model16, tok = load_model(base, adapter, "cpu", "bfloat16")
    report(f"+bf16 (batch {args.batch})", *evalkit_way(model16, tok, texts, args.max_new_tokens, args.batch))


if __name__ == "__main__":
    main()
