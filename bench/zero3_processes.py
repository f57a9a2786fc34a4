"""Benchmark: the demo's `train` stage in one process with every core, against 2 data-parallel CPU processes under
DeepSpeed ZeRO-3 (the one way Axolotl 0.19 trains data-parallel on a CPU: docs/training.md).

Both train recipes/smollm2_cpu.yml on the same first --samples samples of data/demo_train.jsonl, in order, one
sample per process per step, with the demo scale's LoRA layers and learning rate, at this machine's precision:
- one process: the recipe as the demo runs it (accelerate --cpu, every core's threads);
- 2 processes: the same recipe with `deepspeed: recipes/deepspeed/zero3_offload.json` and the
  recipes.cpu_deepspeed plugin (a gloo process group), half the steps (each step takes 2 samples).
The two take turns --repeats times (a shared box's speed drifts); each keeps its fastest. Prints tokens/s from the
Trainer's own train_runtime and tokens seen, each run's first and last loss, and ends with one line:
``ratio zero3-2proc/1proc: R``.
Usage: python bench/zero3_processes.py [--samples 16] [--repeats 2]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/train_throughput.py, bench/frozen_prefix.py

from frozen_prefix import RECIPE, subset  # noqa: E402
from train_throughput import DATA, axolotl_log, runtime_and_tokens  # noqa: E402

from arccommon.precision import decide_precision  # noqa: E402
from experiments.plan import load_matrix, make_scale  # noqa: E402

DEEPSPEED_PLUGIN = "recipes.cpu_deepspeed.CpuDeepSpeedPlugin"


def run(samples: Path, steps: int, processes: int, mixed: str) -> tuple[float, int, list[float]]:
    """(train_runtime s, tokens seen, per-step losses) of ``steps`` steps in ``processes`` processes."""
    recipe = yaml.safe_load(RECIPE.read_text())
    extra = {"datasets": [{**recipe["datasets"][0], "path": str(samples)}],
             **make_scale(load_matrix(), "demo", {}).overrides}
    if processes > 1:
        extra |= {"deepspeed": "recipes/deepspeed/zero3_offload.json",
                  "plugins": recipe["plugins"] + [DEEPSPEED_PLUGIN]}
    log = axolotl_log(steps, mixed, extra, processes=processes)
    runtime, seen = runtime_and_tokens(log)
    return runtime, seen, [float(x) for x in re.findall(r"'loss': '?([0-9.]+)", log)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=16, help="samples trained on (even: 2 per step in 2 processes)")
    ap.add_argument("--repeats", type=int, default=2, help="time each way this many times, keep the fastest")
    args = ap.parse_args()
    if args.samples < 2 or args.samples % 2:
        raise SystemExit(f"--samples {args.samples}: must be even and at least 2")
    precision = decide_precision("cpu")
    mixed = "bf16" if precision.dtype == "bfloat16" else "no"
    print(f"{args.samples} samples of {DATA.name}, the demo scale's LoRA layers, best of {args.repeats}; "
          f"{precision.line()}", flush=True)
    ways = {"1 process, every core": (args.samples, 1), "2 processes, ZeRO-3 over gloo": (args.samples // 2, 2)}
    best: dict[str, tuple[float, int, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        samples = subset(DATA, args.samples, Path(tmp) / "samples.jsonl")
        for _ in range(args.repeats):
            for name, (steps, processes) in ways.items():
                result = run(samples, steps, processes, mixed)
                print(f"  {name}: {result[0]:.1f} s", flush=True)
                if name not in best or result[0] < best[name][0]:
                    best[name] = result
    rates = {}
    for name, (runtime, seen, losses) in best.items():
        rates[name] = seen / runtime
        print(f"{name + ':':32s} {runtime:6.1f} s  {seen:6d} tokens  {rates[name]:6.1f} tok/s  "
              f"loss {losses[0]:.4f} -> {losses[-1]:.4f} ({len(losses)} steps)", flush=True)
    one, two = rates.values()
    print(f"ratio zero3-2proc/1proc: {two / one:.2f}")


if __name__ == "__main__":
    main()
