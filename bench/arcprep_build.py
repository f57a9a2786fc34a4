"""Benchmark: build ARC-AGI-1 train x 8 dihedral x 4 colour permutations (copies=32) with token counting.

Prints samples/s for the real build, for the same build without token counting, and for a baseline that
counts tokens one sample at a time (apply_chat_template per sample), all measured in this run.
Usage: python bench/arcprep_build.py [--tokenizer MODEL_DIR] [--copies 32]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from arccommon.paths import EMBEDDED_MODEL_DIR
from arcprep.build import BuildConfig, build_dataset


def timed_build(cfg: BuildConfig, out: Path) -> tuple[float, dict]:
    start = time.perf_counter()
    manifest = build_dataset(cfg, out, progress=False)
    return time.perf_counter() - start, manifest


def naive_count_rate(path: Path, tokenizer_dir: str, n: int = 500) -> float:
    """Samples/s when each sample is rendered and tokenized on its own."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    records = [json.loads(line) for _, line in zip(range(n), path.open())]
    start = time.perf_counter()
    for rec in records:
        tok.apply_chat_template(rec["messages"], tokenize=True)
    return len(records) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", default=str(EMBEDDED_MODEL_DIR))
    ap.add_argument("--copies", type=int, default=32)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = BuildConfig(source="train", augment=["dihedral", "color"], copies=args.copies)
        plain_s, plain = timed_build(base, Path(tmp) / "plain.jsonl")
        counted = BuildConfig(**{**base.__dict__, "tokenizer": args.tokenizer, "max_tokens": 8192})
        counted_s, manifest = timed_build(counted, Path(tmp) / "counted.jsonl")
        naive = naive_count_rate(Path(tmp) / "counted.jsonl", args.tokenizer)
    n = manifest["samples"]
    print(f"samples: {n} ({manifest['tasks']} tasks x {args.copies} copies per test output)")
    print(f"build without token counting: {plain_s:6.1f} s  {plain['samples'] / plain_s:8.0f} samples/s")
    print(f"build with token counting:    {counted_s:6.1f} s  {n / counted_s:8.0f} samples/s  (goal: < 30 s)")
    print(f"baseline, per-sample tokenize:          {naive:8.0f} samples/s (tokenizing only, 500 samples)")
    print(f"ratio batched build / per-sample tokenize baseline: {n / counted_s / naive:.2f}x")
    print(f"tokens: median {manifest['tokens']['median']}, p90 {manifest['tokens']['p90']}, "
          f"max {manifest['tokens']['max']}, total {manifest['tokens']['total']}")


if __name__ == "__main__":
    main()
