"""Write a count-priors dataset: JSONL of multi-turn chats + a manifest, atomically and deterministically."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from arcprep import __version__
from arcprep.atomic import atomic_open
from arcprep.build import manifest_path
from arcprep.counting import COUNT_PROMPT_VERSION, CountConfig, count_sample, objects_per_grid
from arcprep.errors import ArcPrepError
from arcprep.tokens import ChatTokenCounter, token_stats


def build_count_dataset(cfg: CountConfig, out: Path, progress: bool = True) -> dict[str, Any]:
    """Generate ``cfg.samples`` samples into ``out`` and ``out``.manifest.json; return the manifest.

    Samples over ``max_tokens`` (when a tokenizer is given) are dropped and counted in the manifest.
    """
    from tqdm import tqdm

    cfg.check()
    if cfg.max_tokens is not None and not cfg.tokenizer:
        raise ArcPrepError("count priors: max_tokens needs a tokenizer")
    counter = ChatTokenCounter(cfg.tokenizer) if cfg.tokenizer else None
    samples = [count_sample(cfg, i) for i in tqdm(range(cfg.samples), desc=f"build {out.name}", unit="sample",
                                                   disable=None if progress else True, leave=False)]
    lengths = counter.count_many([s["messages"] for s in samples]) if counter else [None] * len(samples)
    digest, kept, token_counts, dropped = hashlib.sha256(), [], [], 0
    with atomic_open(out) as handle:
        for index, (sample, length) in enumerate(zip(samples, lengths)):
            if cfg.max_tokens is not None and length > cfg.max_tokens:
                dropped += 1
                continue
            record = {"messages": sample["messages"], "sample": index, "background": sample["background"],
                      "objects": sample["objects"]}
            if length is not None:
                record["n_tokens"] = length
                token_counts.append(length)
            line = json.dumps(record, separators=(",", ":")) + "\n"
            handle.write(line)
            digest.update(line.encode("utf-8"))
            kept.append(sample)
        if not kept:
            raise ArcPrepError(f"{out}: every count sample was over max_tokens {cfg.max_tokens}; nothing written")
        manifest = _manifest(cfg, out, kept, token_counts, dropped, digest.hexdigest())
        with atomic_open(manifest_path(out)) as mhandle:
            mhandle.write(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def _manifest(cfg: CountConfig, out: Path, samples: list[dict], token_counts: list[int], dropped: int,
              sha256: str) -> dict[str, Any]:
    tokens = token_stats(token_counts, cfg.tokenizer)
    return {"name": out.name.removesuffix(".jsonl"), "jsonl": out.name, "jsonl_sha256": sha256,
            "arcprep_version": __version__, "kind": cfg.kind, "prompt_version": COUNT_PROMPT_VERSION,
            "config": asdict(cfg), "encoding": cfg.encoding, "system_prompt": cfg.system_prompt, "seed": cfg.seed,
            "samples": len(samples), "dropped_samples": dropped, "tokens": tokens, "max_tokens": cfg.max_tokens,
            "objects_per_grid": objects_per_grid(samples),
            "turns_per_sample": len(cfg.questions)}
