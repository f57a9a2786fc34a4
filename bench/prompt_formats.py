"""Benchmark: the single-turn against the multi-turn prompt format, in one run.

1. Supervised tokens per processed token on the demo's training data (data/spec.yml: demo_train, built in both
   formats): the share of every sample's tokens that carries the loss (assistant turns + end of turn, exactly what
   Axolotl labels: tests/test_prompt_formats.py checks it against Axolotl's preprocessing).
2. The demo scale's `train` run (python -m experiments --scale demo --runs train) trained and scored once per
   format, same tasks, steps and seed: loss and score on the train and eval tasks. ``--no-train`` skips this part.
Usage: python bench/prompt_formats.py [--steps 48] [--tasks 12] [--no-train]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ("single", "multiturn")


def supervised_share(path: Path, tokenizer: str) -> tuple[int, int]:
    """(supervised tokens, tokens) over every sample of the JSONL dataset ``path``."""
    import json

    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer)
    supervised = total = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        answers = [m["content"] for m in record["messages"] if m["role"] == "assistant"]
        supervised += sum(len(tok(a, add_special_tokens=False)["input_ids"]) + 1 for a in answers)  # + end of turn
        total += record["n_tokens"]
    return supervised, total


def main() -> None:
    from arcprep.build import build_dataset
    from arcprep.spec import load_spec
    from experiments.plan import load_matrix, make_plan, make_scale
    from experiments.runner import carry_out

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, help="training steps (default: the demo scale's)")
    ap.add_argument("--tasks", type=int, help="tasks per split (default: the demo scale's)")
    ap.add_argument("--no-train", action="store_true", help="token shares only")
    args = ap.parse_args()
    demo = load_spec(ROOT / "data/spec.yml")["demo_train"]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in FORMATS:
            out = Path(tmp) / f"demo_train_{fmt}.jsonl"
            manifest = build_dataset(dataclasses.replace(demo, prompt_format=fmt, tokenizer=str(ROOT / demo.tokenizer)),
                                     out, progress=False)
            supervised, total = supervised_share(out, str(ROOT / demo.tokenizer))
            rows[fmt] = {"samples": manifest["samples"], "tokens": total, "supervised": supervised}
            if args.no_train:
                continue
            matrix = load_matrix()
            scale = make_scale(matrix, "demo", {"prompt_format": fmt, "steps": args.steps, "tasks": args.tasks})
            plan = make_plan(matrix, scale, ["train"])
            result = carry_out(plan, Path(tmp) / f"work_{fmt}", ROOT)["train"]
            rows[fmt].update(steps=scale.steps, tasks=scale.tasks, train=result["train"], eval=result["eval"])
    print("supervised tokens per processed token, demo_train (data/spec.yml):")
    for fmt, row in rows.items():
        print(f"  {fmt:9s} {row['supervised']:>8,} / {row['tokens']:>9,} = {row['supervised'] / row['tokens']:.3f} "
              f"({row['samples']} samples)")
    if args.no_train:
        return
    print(f"\nthe demo's `train` run ({rows['single']['steps']} steps, {rows['single']['tasks']} smallest tasks per "
          "split), per format:")
    print(f"  {'format':9s} {'train wall':>10s} {'tokens seen':>11s} {'loss start -> end':>18s}   "
          f"{'score train':24s} {'score eval':24s}")
    for fmt, row in rows.items():
        rec, losses = row["train"], row["train"]["losses"]
        scores = [f"{s['score']:.3f} ({s['tasks_solved']}/{s['n_tasks']}) shape {s['shape_accuracy']:.0%}"
                  for s in (row["eval"]["train"], row["eval"]["eval"])]
        print(f"  {fmt:9s} {rec['wall_s']:>9.0f}s {rec['tokens_seen']:>11,} {losses[0][1]:>8.3f} -> {losses[-1][1]:.3f}"
              f"   {scores[0]:24s} {scores[1]:24s}")


if __name__ == "__main__":
    main()
