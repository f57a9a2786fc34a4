"""Benchmark: how many views per test input to generate, and how to pick two attempts from their candidates.

For each view count in --views, runs ``evaluate_split`` on the --tasks smallest tasks of --split after the
--skip-tasks smallest (by cell count, as the experiments choose them), with --adapter (default: the shipped broad
prior; the base model when it is missing), and prints per view count: generation and likelihood-selection time,
the oracle (the right answer among the candidates at all) and score / pass@1 / pass@2 of each selection from the
same candidates. Views are drawn by evalkit's seeded policy, so the first N views of a larger count are the N views
of the smaller one: the rows differ only by the views added. Vote needs no extra work (its column is the baseline
for likelihood's cost). With --dfs each view count is also run with depth-first sampling at each threshold given
(evalkit/dfs.py: every answer at least that likely per view, at most --dfs-max; 0 = greedy only), and with
--score-views under each number of scoring views given (the "judge" column; 0 = the generated views).
--adapter-per-task scores a per-task TTT run's adapters. Choose on dev ranks, report on others:
  python bench/selection.py --skip-tasks 8 --tasks 16 --views 2,4,8      # eval ranks 9-24 (dev)
  python bench/selection.py --split train --skip-tasks 8 --tasks 16 --views 2 --dfs 0,0.05,0.01   # train dev
  python bench/selection.py --skip-tasks 24 --tasks 24 --views 2,N       # eval ranks 25-48 (report)
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from arccommon.paths import EMBEDDED_MODEL_DIR
    from arcprep.sources import load_source
    from evalkit.evaluator import evaluate_split
    from evalkit.request import DFS_MAX, EvalRequest
    from evalkit.run import finished_tasks
    from experiments.plan import smallest

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="eval")
    ap.add_argument("--tasks", type=int, default=16, help="how many tasks, by cell count")
    ap.add_argument("--skip-tasks", type=int, default=8, help="pass over this many smallest tasks first")
    ap.add_argument("--views", default="2,4,8", help="view counts to compare, comma list")
    ap.add_argument("--dfs", default="0", help="depth-first sampling thresholds to compare, comma list (0: off)")
    ap.add_argument("--dfs-max", type=int, default=DFS_MAX, help="--dfs: answers per view at most")
    ap.add_argument("--score-views", default="0",
                    help="likelihood scores under this many views, comma list to compare (0: the generated ones)")
    ap.add_argument("--adapter-per-task", type=Path, metavar="DIR",
                    help="per-task adapters (a TTT run's adapters/ folder); tasks without one use --adapter")
    ap.add_argument("--adapter", type=Path, default=ROOT / "models" / "smollm2-135m-arc1-prior",
                    help="adapter to evaluate (default: the shipped broad prior; base model if missing)")
    args = ap.parse_args()
    counts = sorted({int(v) for v in args.views.split(",")})
    thresholds = sorted({float(v) for v in args.dfs.split(",")}, reverse=True)
    judges = sorted({int(v) for v in args.score_views.split(",")})
    adapter = args.adapter if (args.adapter / "adapter_config.json").exists() else None
    tasks = [t.id for t in smallest(load_source(args.split).tasks, args.tasks, args.skip_tasks)]
    shown = adapter.relative_to(ROOT) if adapter and adapter.is_relative_to(ROOT) else adapter
    print(f"{len(tasks)} tasks of {args.split} (ranks {args.skip_tasks + 1}-{args.skip_tasks + len(tasks)} by cell "
          f"count), adapter {shown or 'none (base model)'}"
          + (f", per-task adapters {args.adapter_per_task}" if args.adapter_per_task else ""), flush=True)
    print(f"{'views':>5}  {'dfs':>5}  {'judge':>5}  {'gen s/task':>10}  {'select s/task':>13}  {'oracle':>6}  "
          + "  ".join(f"{m + ' score/pass@1/pass@2':>33}" for m in ("likelihood", "vote")), flush=True)
    for views, dfs, judge in ((v, d, j) for v in counts for d in thresholds for j in judges if not 0 < j < v):
        with tempfile.TemporaryDirectory() as tmp:
            summary, out = evaluate_split(EvalRequest(
                split=args.split, adapter=adapter, base=None if adapter else str(ROOT / EMBEDDED_MODEL_DIR),
                tasks=tasks, augmentations=views, select="likelihood", device="cpu", out=Path(tmp) / "eval",
                progress=False, dfs=dfs or None, dfs_max=args.dfs_max, score_views=judge or None,
                adapter_per_task=args.adapter_per_task))
            records = list(finished_tasks(out).values())
        n = summary["n_tasks"]
        cells = "  ".join(f"{f['score']:>13.3f} {f['pass_at_1']:>9.1%} {f['pass_at_2']:>9.1%}"
                          for f in (summary["selection"][m] for m in ("likelihood", "vote")))
        per_output = sum(len(r["candidates"]) for r in records) / max(sum(len(r["attempts"]) for r in records), 1)
        print(f"{views:>5}  {dfs or 'off':>5}  {judge or views:>5}  {summary['generation_s'] / n:>10.1f}  "
              f"{summary['selection_s'] / n:>13.1f}  {summary['oracle_pass_at_n']:>6.1%}  {cells}  "
              f"{per_output:.1f} candidates per test output", flush=True)
        for mode in ("oracle", "likelihood", "vote"):
            print(f"       {mode + ':':<11} {task_scores(records, mode)}", flush=True)


def task_scores(records: list[dict[str, Any]], mode: str) -> str:
    """``task (share of its test outputs)`` for each task with any output solved under ``mode`` (oracle: the
    right answer among the candidates)."""
    shown = []
    for rec in sorted(records, key=lambda r: r["task_id"]):
        outputs = rec["score_records"]["likelihood" if mode == "oracle" else mode]["outputs"]
        hits = sum(bool(o["oracle" if mode == "oracle" else "solved"]) for o in outputs)
        if hits:
            shown.append(rec["task_id"] + ("" if hits == len(outputs) else f" ({hits}/{len(outputs)})"))
    return ", ".join(shown) or "none"


if __name__ == "__main__":
    main()
