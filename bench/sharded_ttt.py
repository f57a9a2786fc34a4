"""Benchmark: per-task test-time training + its evaluation, same tasks and steps, three ways in one run.

Runs the demo scale's ``ttt_eval`` with ``--ttt-mode per_task`` (one adapter per eval task, then the evaluation
with each task's own adapter): (a) one ``accelerate launch`` of Axolotl per task (``--ttt-process per_task``, the
old path), (b) every task's training in one Python process (``--ttt-process one``, recipes/in_process.py), and
(c) that under ``accelerate launch --multi_gpu --num_processes 2`` with one thread per process, each process
training and predicting its share. All start from the same finished ``train`` run (copied from --from, as
``make demo`` leaves it; trained first when missing), so only test-time training and its evaluation are timed.
Per task it prints the wall seconds, the trainer's own seconds and the final loss of each path.
Usage: python bench/sharded_ttt.py [--from experiments/work/demo] [--tasks 8] [--ttt-steps 8]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(label: str, launch: list[str], args: list[str], work: Path, start: Path) -> dict:
    shutil.copytree(start, work / "runs" / "train")
    t0 = time.perf_counter()
    res = subprocess.run([*launch, "-m", "experiments", *args, "--work", str(work),
                          "--results", str(work / "results.md")], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        sys.exit(f"{label} failed:\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}")
    run_dir = work / "runs" / "ttt_eval"
    return {"label": label, "wall": wall, "train": json.loads((run_dir / "train.json").read_text()),
            "summary": json.loads((run_dir / "eval-eval" / "summary.json").read_text())}


def main() -> None:
    from evalkit.shards import cpu_launch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="start", type=Path, default=ROOT / "experiments/work/demo",
                    help="a demo work folder whose runs/train is finished")
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--ttt-steps", type=int, default=8, help="optimizer steps per task adapter, the same each way")
    args = ap.parse_args()
    start = args.start / "runs" / "train"
    if not (start / "train.json").exists():  # the demo's own train run, as make demo leaves it
        print(f"{start}: no finished train run; training it first (python -m experiments --scale demo --runs train)")
        subprocess.run([sys.executable, "-m", "experiments", "--scale", "demo", "--runs", "train", "--work",
                        str(args.start), "--results", str(args.start / "results.md")], cwd=ROOT, check=True)
    common = ["--scale", "demo", "--runs", "ttt_eval", "--ttt-mode", "per_task", "--tasks", str(args.tasks),
              "--ttt-steps", str(args.ttt_steps)]
    one = [*common, "--ttt-process", "one"]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run("a launch per task", [sys.executable], [*common, "--ttt-process", "per_task"],
                    Path(tmp) / "a", start),
                run(f"one process, {os.cpu_count()} threads", [sys.executable], one, Path(tmp) / "b", start),
                run("2 processes, 1 thread each", cpu_launch(2), one, Path(tmp) / "c", start)]
    print(f"per-task TTT on {args.tasks} eval tasks (demo scale), {os.cpu_count()} cores")
    base = rows[0]["wall"]
    for row in rows:
        train, summary = row["train"], row["summary"]
        print(f"  {row['label']:28s} {row['wall']:6.1f} s in all (x{base / row['wall']:.2f}): "
              f"{train['adapters']} adapters in {train['wall_s']:.0f} s "
              f"({60 * train['adapters'] / train['wall_s']:.2f}/min), evaluation {summary['wall_s']:.0f} s, "
              f"final mean loss {train['losses'][-1][1]:.3f}, score {summary['score']:.3f} "
              f"({summary['tasks_solved']}/{summary['n_tasks']} tasks)"
              + (f", outside the trainer {train['overhead']:.0%}" if train.get("overhead") is not None else ""))
    print("per task: wall s / trainer s / final loss, each way")
    for task in sorted(rows[0]["train"]["task_wall_s"]):
        cells = []
        for row in rows:
            t = row["train"]
            trainer = (t.get("task_train_s") or {}).get(task)
            cells.append(f"{t['task_wall_s'][task]:5.1f} / {trainer if trainer is None else round(trainer, 1)} / "
                         f"{(t.get('task_final_loss') or {}).get(task) or float('nan'):.3f}")
        print(f"  {task}: " + "  |  ".join(cells))


if __name__ == "__main__":
    main()
