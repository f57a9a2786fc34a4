"""Benchmark: evalkit's two engines (Hugging Face generate, vLLM) on the demo's evaluation, in one run.

Three evaluations of the demo's --tasks smallest eval tasks with --views views, each with both engines: the base
model, the shared adapter (``train``) and the per-task adapters (``ttt_eval``), read from the work folder ``make demo``
leaves (``--work``). Every wall time is a whole ``python -m evalkit`` command, so it includes start-up: loading the
model (HF) or starting the vLLM server and loading each LoRA into it (vLLM). Prints tasks/min per engine, the scores
side by side, how many attempts differ between the engines, and which engine is faster on this machine.
Usage: python bench/engines.py [--work experiments/work/demo] [--tasks 8] [--views 2] [--dtype auto]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def evaluate(engine: str, model: list[str], common: list[str], out: Path) -> dict:
    start = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "evalkit", "run", *model, *common, "--engine", engine,
                          "--out", str(out), "--quiet"], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if res.returncode != 0:
        sys.exit(f"{engine} {' '.join(model)} failed:\n{res.stderr[-3000:]}")
    predictions = json.loads((out / "predictions.json").read_text())
    return {"wall": wall, "summary": json.loads((out / "summary.json").read_text()), "predictions": predictions}


def differing(a: dict, b: dict) -> tuple[int, int]:
    """(test outputs whose two attempts differ between two predictions.json, test outputs)."""
    pairs = [(x, y) for task in a for x, y in zip(a[task], b[task])]
    return sum(x != y for x, y in pairs), len(pairs)


def main() -> None:
    from arccommon.paths import EMBEDDED_MODEL_DIR
    from arccommon.precision import decide_precision
    from arcprep.sources import load_source
    from experiments.plan import smallest

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=ROOT / "experiments/work/demo", help="a finished make demo")
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--views", type=int, default=2)
    ap.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float32"])
    args = ap.parse_args()
    shared, per_task = args.work / "runs/train/adapter", args.work / "runs/ttt_eval/adapters"
    if not (shared / "adapter_config.json").exists() or not per_task.is_dir():
        sys.exit(f"{args.work}: no finished demo (runs/train/adapter, runs/ttt_eval/adapters): run `make demo`")
    tasks = [t.id for t in smallest(load_source("eval").tasks, args.tasks)]
    common = ["--split", "eval", "--tasks", ",".join(tasks), "--augmentations", str(args.views), "--device", "cpu",
              "--dtype", args.dtype]
    models = {"base": ["--base", str(ROOT / EMBEDDED_MODEL_DIR)], "shared adapter": ["--adapter", str(shared)],
              "per-task adapters": ["--adapter", str(shared), "--adapter-per-task", str(per_task)]}
    dtype = decide_precision("cpu", args.dtype).dtype
    print(f"{len(tasks)} smallest eval tasks, {args.views} views, {dtype}; wall time of each whole command "
          f"(start-up included)", flush=True)
    totals = {"hf": 0.0, "vllm": 0.0}
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in models.items():
            runs = {e: evaluate(e, model, common, Path(tmp) / f"{e}-{name.split()[0]}") for e in ("hf", "vllm")}
            diff, outputs = differing(runs["hf"]["predictions"], runs["vllm"]["predictions"])
            cells = []
            for engine, run in runs.items():
                totals[engine] += run["wall"]
                s = run["summary"]
                cells.append(f"{engine} {run['wall']:6.1f} s {60 * len(tasks) / run['wall']:5.2f} tasks/min, score "
                             f"{s['score']:.3f} ({s['tasks_solved']}/{s['n_tasks']})")
            print(f"  {name:18s} " + " | ".join(cells) + f" | attempts differing: {diff}/{outputs} outputs",
                  flush=True)
    faster = min(totals, key=totals.get)
    print(f"all three: hf {totals['hf']:.0f} s, vllm {totals['vllm']:.0f} s; faster on this machine: {faster} "
          f"(x{max(totals.values()) / totals[faster]:.2f})")


if __name__ == "__main__":
    main()
