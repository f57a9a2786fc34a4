"""Benchmark: evaluation tasks per minute in one process vs sharded over two (accelerate launch, gloo), same tasks.

Evaluates the --tasks smallest tasks of --split with --views views, with the demo's trained adapter when it exists
(``make demo``), else the base model, three ways in one run: one process with one thread, one process with every
core (the default), and ``accelerate launch --multi_gpu --num_processes 2`` with one thread per process. Wall time
includes loading the model in each process. Usage: python bench/sharded_eval.py [--split eval] [--tasks 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(label: str, launch: list[str], threads: int | None, args: list[str], out: Path) -> dict:
    env = {**os.environ}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    start = time.perf_counter()
    res = subprocess.run([*launch, "-m", "evalkit", "run", *args, "--out", str(out), "--quiet"], cwd=ROOT, env=env,
                         capture_output=True, text=True)
    wall = time.perf_counter() - start
    if res.returncode != 0:
        sys.exit(f"{label} failed:\n{res.stderr[-3000:]}")
    return {"label": label, "wall": wall, "summary": json.loads((out / "summary.json").read_text()),
            "predictions": (out / "predictions.json").read_bytes()}


def main() -> None:
    from arccommon.paths import EMBEDDED_MODEL_DIR
    from arcprep.sources import load_source
    from evalkit.shards import cpu_launch
    from experiments.plan import smallest

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="eval")
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--views", type=int, default=2)
    ap.add_argument("--adapter", type=Path, default=ROOT / "experiments/work/demo/runs/train/adapter")
    args = ap.parse_args()
    tasks = [t.id for t in smallest(load_source(args.split).tasks, args.tasks)]
    model = (["--adapter", str(args.adapter)] if (args.adapter / "adapter_config.json").exists()
             else ["--base", str(ROOT / EMBEDDED_MODEL_DIR)])
    common = [*model, "--split", args.split, "--tasks", ",".join(tasks), "--augmentations", str(args.views),
              "--device", "cpu"]
    two = cpu_launch(2)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run("1 process, 1 thread", [sys.executable], 1, common, Path(tmp) / "a"),
                run(f"1 process, {os.cpu_count()} threads", [sys.executable], None, common, Path(tmp) / "b"),
                run("2 processes, 1 thread each", two, None, common, Path(tmp) / "c")]
    print(f"{len(tasks)} tasks of {args.split}, {args.views} views, {model[0]} {Path(model[1]).name}, "
          f"{os.cpu_count()} cores")
    base = rows[0]["wall"]
    for row in rows:
        print(f"  {row['label']:28s} {row['wall']:7.1f} s  {60 * len(tasks) / row['wall']:5.2f} tasks/min  "
              f"x{base / row['wall']:.2f}  score {row['summary']['score']:.3f}")
    same = all(r["predictions"] == rows[0]["predictions"] for r in rows)
    print(f"  predictions.json identical across the three: {same}")


if __name__ == "__main__":
    main()
