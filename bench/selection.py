"""Benchmark: generation time vs likelihood-selection time per task, and both selections' scores on the same
candidates, in one evalkit run.

Runs ``evaluate_split`` with --views augmented views per test input on the --tasks smallest tasks of --split (by
cell count, as the experiments choose them), with the demo's trained adapter when it exists (``make demo``), else
the base model. Selection by likelihood scores every distinct candidate under every view; vote needs no extra work,
so the vote column is the baseline. Usage: python bench/selection.py [--split eval] [--tasks 12] [--views 4]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from arccommon.paths import EMBEDDED_MODEL_DIR
    from arcprep.sources import load_source
    from evalkit.evaluator import EvalRequest, evaluate_split
    from experiments.plan import smallest

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="eval")
    ap.add_argument("--tasks", type=int, default=12)
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--adapter", type=Path, default=ROOT / "experiments/work/demo/runs/train/adapter",
                    help="adapter to evaluate (default: the one `make demo` trains; base model if missing)")
    args = ap.parse_args()
    adapter = args.adapter if (args.adapter / "adapter_config.json").exists() else None
    tasks = [t.id for t in smallest(load_source(args.split).tasks, args.tasks)]
    with tempfile.TemporaryDirectory() as tmp:
        summary, _ = evaluate_split(EvalRequest(
            split=args.split, adapter=adapter, base=None if adapter else str(ROOT / EMBEDDED_MODEL_DIR), tasks=tasks,
            augmentations=args.views, select="likelihood", device="cpu", out=Path(tmp) / "eval", progress=False))
    n = summary["n_tasks"]
    shown = adapter.relative_to(ROOT) if adapter and adapter.is_relative_to(ROOT) else adapter
    print(f"{n} tasks of {args.split} ({summary['n_outputs']} test outputs), {args.views} views, adapter "
          f"{shown or 'none (base model)'}")
    print(f"generation: {summary['generation_s']:7.1f} s  ({summary['generation_s'] / n:5.1f} s/task)")
    print(f"selection:  {summary['selection_s']:7.1f} s  ({summary['selection_s'] / n:5.1f} s/task, "
          f"x{summary['selection_s'] / max(summary['generation_s'], 1e-9):.2f} of generation)")
    print(f"right answer among the candidates (oracle): {summary['oracle_pass_at_n']:.1%} of test outputs")
    for mode, figures in summary["selection"].items():
        print(f"{mode:<10}  score {figures['score']:.3f}  pass@1 {figures['pass_at_1']:.1%}  "
              f"pass@2 {figures['pass_at_2']:.1%}")


if __name__ == "__main__":
    main()
