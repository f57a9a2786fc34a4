"""Build a count-priors dataset (multi-turn chats about objects in grids) with the shared dataset writer."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

from arcprep.counting import COUNT_PROMPT_VERSION, CountConfig, count_sample, objects_per_grid
from arcprep.tokens import ChatTokenCounter, fit_to_budget
from arcprep.writer import write_dataset


def build_count_dataset(cfg: CountConfig, out: Path, progress: bool = True) -> dict[str, Any]:
    """Generate ``cfg.samples`` samples into ``out`` and ``out``.manifest.json; return the manifest.

    Samples over ``max_tokens`` are dropped (a chat has nothing to trim) and counted in the manifest.
    """
    from tqdm import tqdm

    cfg.check()
    counter = ChatTokenCounter(cfg.tokenizer) if cfg.tokenizer else None
    stats: Counter[str] = Counter()
    kept: list[dict[str, Any]] = []
    generated = ((index, count_sample(cfg, index)) for index in tqdm(
        range(cfg.samples), desc=f"build {out.name}", unit="sample", disable=None if progress else True, leave=False))

    def records() -> Iterator[dict[str, Any]]:
        for (index, sample), _, messages, length in fit_to_budget(
                generated, lambda item, _k: item[1]["messages"], lambda _item: 1, counter, cfg.max_tokens, stats):
            kept.append(sample)
            record = {"messages": messages, "sample": index, "background": sample["background"],
                      "objects": sample["objects"]}
            if length is not None:
                record["n_tokens"] = length
            yield record

    def manifest() -> dict[str, Any]:
        return {"kind": cfg.kind, "prompt_version": COUNT_PROMPT_VERSION, "config": asdict(cfg),
                "encoding": cfg.encoding, "system_prompt": cfg.system_prompt, "seed": cfg.seed,
                "dropped_samples": stats["dropped_samples"], "max_tokens": cfg.max_tokens,
                "objects_per_grid": objects_per_grid(kept), "turns_per_sample": len(cfg.questions)}

    return write_dataset(out, records(), manifest, cfg.tokenizer,
                         f"{out}: every count sample was over max_tokens {cfg.max_tokens}; nothing written")
