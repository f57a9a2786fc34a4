"""``python -m experiments [--scale cpu] [--runs base,train] [--tasks N --steps S ...]``: the four questions.

Builds the datasets, trains every run of experiments/matrix.yml with its recipe, evaluates it with evalkit, and
writes the results table and loss curves. Re-running skips finished work and resumes the rest. Under
``accelerate launch --multi_gpu --num_processes N -m experiments ...`` evaluations and per-task test-time training
are shared out over the N processes (one per GPU, or CPU processes with gloo); each run's training uses every GPU.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from arccommon.cli import VERBOSE_ENV, csv_list, run_command
from arccommon.noise import silence_known_noise
from arccommon.paths import EMBEDDED_MODEL_DIR
from arcprep.prompt import PROMPT_FORMATS
from experiments.plan import MATRIX, TTT_MODES, TTT_PROCESSES


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m experiments", description=__doc__.split("\n\n")[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="demo", help="a scale of experiments/matrix.yml (demo, cpu)")
    ap.add_argument("--runs", type=csv_list, help="only these runs (and the runs they continue), comma list")
    ap.add_argument("--tasks", type=int, help="tasks per split (the smallest by cell count)")
    ap.add_argument("--skip-tasks", type=int,
                    help="pass over this many smallest tasks per split first (choose settings on the next ones)")
    ap.add_argument("--copies", type=int, help="augmented samples per test output")
    ap.add_argument("--steps", type=int, help="optimizer steps per training stage")
    ap.add_argument("--count-samples", type=int, help="count-priors chats for stage 1")
    ap.add_argument("--augmentations", type=int, help="views (predictions) per test input at evaluation")
    ap.add_argument("--prompt-format", choices=PROMPT_FORMATS, help="prompt format of every ARC dataset")
    ap.add_argument("--ttt-mode", choices=TTT_MODES, help="test-time training: one shared adapter or one per task")
    ap.add_argument("--ttt-copies", type=int, help="augmented samples per held-out demonstration pair (TTT)")
    ap.add_argument("--ttt-steps", type=int, help="fixed optimizer steps per TTT adapter (instead of epochs)")
    ap.add_argument("--ttt-epochs", type=float, help="passes of each test-time training over its own samples")
    ap.add_argument("--ttt-lr", type=float, help="learning rate of test-time training (sets ttt_overrides)")
    ap.add_argument("--ttt-process", choices=TTT_PROCESSES,
                    help="per-task TTT: one Python process for all of a shard's tasks (one), or a launch per task")
    ap.add_argument("--base-model", help=f"base model folder (default {EMBEDDED_MODEL_DIR})")
    ap.add_argument("--matrix", type=Path, default=MATRIX, help="experiment matrix (default: the packaged one)")
    ap.add_argument("--work", type=Path, help="work folder (default ROOT/experiments/work/SCALE)")
    ap.add_argument("--results", type=Path,
                    help="results Markdown, loss PNG beside it (default ROOT/experiments/results.md for the demo "
                         "scale, ROOT/experiments/results-SCALE.md for any other)")
    ap.add_argument("--plan-only", action="store_true",
                    help="build the datasets and print each run's tasks, samples, tokens and steps; train nothing")
    ap.add_argument("--verbose", action="store_true",
                    help=f"show Axolotl's output on the console instead of each training's train.log "
                         f"(or set {VERBOSE_ENV}=1)")
    ap.add_argument("--root", type=Path, default=Path("."), help="repository root (recipes, models)")
    return ap


def default_results(root: Path, scale: str) -> Path:
    """One results file per scale, so that a larger scale never overwrites the demo's: results.md, results-cpu.md."""
    return root / "experiments" / ("results.md" if scale == "demo" else f"results-{scale}.md")


def main(argv: list[str] | None = None) -> int:
    silence_known_noise()
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    if args.verbose:
        os.environ[VERBOSE_ENV] = "1"  # the trainings and every process of a launch read it

    def run() -> int:
        from arccommon.precision import resolve_device
        from evalkit.shards import current_shard
        from experiments.index_page import write_index
        from experiments.plan import load_matrix, make_plan, make_scale
        from experiments.results import table, write_results
        from experiments.runner import carry_out, describe

        matrix = load_matrix(args.matrix)
        overrides = {"tasks": args.tasks, "skip_tasks": args.skip_tasks, "copies": args.copies, "steps": args.steps,
                     "count_samples": args.count_samples, "augmentations": args.augmentations,
                     "prompt_format": args.prompt_format, "ttt_mode": args.ttt_mode, "ttt_copies": args.ttt_copies,
                     "ttt_epochs": args.ttt_epochs, "ttt_steps": args.ttt_steps, "ttt_process": args.ttt_process,
                     "base_model": args.base_model}
        scale = make_scale(matrix, args.scale, overrides)
        if args.ttt_lr is not None:
            scale.ttt_overrides = {**scale.ttt_overrides, "learning_rate": args.ttt_lr}
        plan = make_plan(matrix, scale, args.runs)
        work = args.work or args.root / "experiments" / "work" / scale.name
        md = args.results or default_results(args.root, scale.name)
        shard = current_shard(resolve_device("auto"))
        if args.plan_only:
            if shard.is_main:
                print(describe(plan, work, args.root))
            return 0
        results = carry_out(plan, work, args.root, shard)
        if not shard.is_main:
            return 0
        command = "python -m experiments " + shlex.join(argv) if argv else "python -m experiments"
        write_results(plan, results, md, md.with_suffix(".png"), command)
        index = write_index(plan, results, work, md.with_suffix(".png"), command)
        print(table(plan, results))
        print(f"results: {md}")
        reports = [run_eval / "report.html" for run_eval in sorted((work / "runs").glob("*/eval-*"))]
        for report in reports:
            print(f"report: {report}")
        print(f"index (the table, loss curves and every report): {index}")
        return 0

    return run_command(run, "interrupted: finished runs are kept; run the same command to resume")


if __name__ == "__main__":
    sys.exit(main())
