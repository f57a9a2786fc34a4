"""Benchmark: what recipes/frozen_prefix.py buys when a training stage sees its samples more than once.

Runs recipes/smollm2_cpu.yml through Axolotl with the demo scale's LoRA layers (experiments/matrix.yml) on the
first --samples samples of data/demo_train.jsonl, --epochs times over them in order, one sample per step, at this
machine's precision: once without the plugin and once with it (each the best of --repeats). Prints each run's
trainer tokens/s, the speed-up, the largest difference between the two runs' per-step losses and the first step
where they differ (the plugin only skips recomputing frozen layers; Axolotl's bf16 training on a CPU is not
bit-reproducible from run to run, so compare with two runs without it), and the plugin's count of replayed passes.
Usage: python bench/frozen_prefix.py [--samples 12] [--epochs 2] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/train_throughput.py

from train_throughput import DATA, ROOT, axolotl_log, demo_layers, runtime_and_tokens  # noqa: E402

from arccommon.precision import decide_precision  # noqa: E402
from arcprep.writer import read_manifest, write_dataset  # noqa: E402

RECIPE = ROOT / "recipes" / "smollm2_cpu.yml"
PLUGIN = "recipes.frozen_prefix.FrozenPrefixPlugin"


def subset(data: Path, n: int, out: Path, seed: int | None = None) -> Path:
    """The first ``n`` samples of dataset ``data`` (or ``n`` drawn with ``seed``), written with their own manifest
    (recipes check every dataset's hash against it); the builder's fields come from ``data``'s manifest."""
    manifest = read_manifest(data) or {}
    lines = data.read_text(encoding="utf-8").splitlines()
    chosen = lines[:n] if seed is None else random.Random(seed).sample(lines, n)
    write_dataset(out, [json.loads(line) for line in chosen], lambda: manifest, None, f"{data}: no samples")
    return out


def run(samples: Path, steps: int, plugins: list[str], mixed_precision: str) -> tuple[float, int, list[float], str]:
    """(train_runtime s, tokens seen, per-step losses, the plugin's summary line or '')."""
    datasets = yaml.safe_load(RECIPE.read_text())["datasets"]
    extra = {"datasets": [{**datasets[0], "path": str(samples)}], "plugins": plugins,
             "peft_layers_to_transform": demo_layers()}
    log = axolotl_log(steps, mixed_precision, extra)
    runtime, seen = runtime_and_tokens(log)
    losses = [float(x) for x in re.findall(r"'loss': '?([0-9.]+)", log)]
    summary = next((line for line in log.splitlines() if "passes replayed" in line), "")
    return runtime, seen, losses, summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=2, help="passes over the samples (per-task TTT runs 2)")
    ap.add_argument("--repeats", type=int, default=1, help="time each run this many times, keep the fastest")
    args = ap.parse_args()
    precision = decide_precision("cpu")
    mixed = "bf16" if precision.dtype == "bfloat16" else "no"
    recipe_plugins = yaml.safe_load(RECIPE.read_text())["plugins"]
    without = [p for p in recipe_plugins if p != PLUGIN]
    steps = args.samples * args.epochs
    print(f"{args.samples} samples of {DATA.name} x {args.epochs} epochs = {steps} steps of one sample, LoRA on "
          f"layers {demo_layers()}, best of {args.repeats}; {precision.line()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        samples = subset(DATA, args.samples, Path(tmp) / "samples.jsonl")
        results = {}
        for name, plugins in (("without frozen_prefix", without), ("with frozen_prefix", recipe_plugins)):
            results[name] = min((run(samples, steps, plugins, mixed) for _ in range(args.repeats)),
                                key=lambda r: r[0])
            runtime, seen, losses, summary = results[name]
            print(f"{name + ':':24s} {runtime:6.1f} s  {seen / runtime:6.1f} tok/s  loss {losses[0]:.4f} -> "
                  f"{losses[-1]:.4f}  {summary.strip()}", flush=True)
    (base_s, base_seen, base_losses, _), (s, seen, losses, _) = results.values()
    diffs = [abs(a - b) for a, b in zip(base_losses, losses)]
    first = next((i + 1 for i, d in enumerate(diffs) if d > 0), None)
    print(json.dumps({"speedup": round((seen / s) / (base_seen / base_s), 2), "max_loss_difference": max(diffs),
                      "first_step_with_another_loss": first, "steps": len(diffs)}))


if __name__ == "__main__":
    main()
