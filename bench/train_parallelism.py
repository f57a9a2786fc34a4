"""Benchmark: how to spend a CPU's cores on LoRA training — threads in one process, or one process per core.

Times the bare PyTorch + peft LoRA loop of bench/train_throughput.py (the demo's settings: LoRA r=32 on the layers
experiments/matrix.yml's demo scale names, one sample per step, this machine's precision) on the first --steps
samples of data/demo_train.jsonl, three ways in one run: one process using every core; one process with one thread;
and one single-threaded process per core, all at once (what data-parallel training across the cores would get, less
its gradient all-reduce). Prints each way's tokens/s (the best of --repeats rounds, the three ways interleaved: a
shared machine's speed drifts) and the ratio of the last to the first.
Usage: python bench/train_parallelism.py [--steps 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/train_throughput.py


def worker(steps: int) -> None:
    """Run in a child: print {"seconds", "tokens"} of one timed pass (after a warm-up pass) as JSON."""
    import torch

    from arccommon.precision import decide_precision
    from train_throughput import bare_loop_once, demo_layers, tokenized_samples

    torch.manual_seed(0)
    samples = tokenized_samples(steps)
    bf16 = decide_precision("cpu").dtype == "bfloat16"
    layers = demo_layers()
    bare_loop_once(samples[:1], layers, bf16=bf16)  # warm-up: first-call kernel selection and allocation
    seconds = bare_loop_once(samples, layers, bf16=bf16)
    print(json.dumps({"seconds": seconds, "tokens": sum(len(ids) for ids, _ in samples)}))


def spawn(steps: int, threads: int, copies: int) -> list[dict]:
    """Start ``copies`` workers with ``threads`` threads each at once; their results."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", "--steps", str(steps)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for _ in range(copies)]
    outs = [p.communicate()[0] for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit(f"a worker failed (exit {[p.returncode for p in procs]})")
    return [json.loads(out.strip().splitlines()[-1]) for out in outs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=4, help="one-sample optimizer steps timed per process")
    ap.add_argument("--repeats", type=int, default=3, help="rounds of the three ways; each keeps its best")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.steps)
        return
    from arccommon.precision import decide_precision

    cores = os.cpu_count() or 1
    print(f"{cores} cores, {args.steps} steps per process, best of {args.repeats}, "
          f"{decide_precision('cpu').line()}", flush=True)

    def rate(results: list[dict]) -> float:
        return sum(r["tokens"] / r["seconds"] for r in results)

    best: dict[str, float] = {}
    for _ in range(args.repeats):
        for way, (threads, copies) in {"threads": (cores, 1), "one": (1, 1), "procs": (1, cores)}.items():
            best[way] = max(best.get(way, 0.0), rate(spawn(args.steps, threads, copies)))
    rate_threads, rate_procs = best["threads"], best["procs"]
    print(f"1 process, {cores} threads:        {rate_threads:6.1f} tok/s")
    print(f"1 process, 1 thread:          {best['one']:6.1f} tok/s (x{best['one'] / rate_threads:.2f})")
    print(f"{cores} processes, 1 thread each:  {rate_procs:6.1f} tok/s in all")
    print(f"ratio processes/threads: {rate_procs / rate_threads:.2f}")


if __name__ == "__main__":
    main()
