"""Build one dataset: tasks -> augmented chat samples -> JSONL + manifest (atomically, deterministically)."""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from arcprep import __version__
from arcprep.atomic import atomic_open
from arcprep.augment import DIHEDRAL, Augmentation, random_colors
from arcprep.errors import ArcPrepError
from arcprep.leakage import leaked_tasks
from arcprep.prompt import PROMPT_VERSION, SYSTEM_PROMPT, chat_messages
from arcprep.sources import load_source
from arcprep.tasks import Task
from arcprep.tokens import ChatTokenCounter, token_stats, trim_to_budget

AUGMENTS = ("dihedral", "color", "swap", "shuffle")


@dataclass
class BuildConfig:
    """Everything that determines a dataset's bytes (recorded in its manifest)."""

    source: str
    augment: list[str] = field(default_factory=list)
    copies: int = 1
    seed: int = 0
    encoding: str = "plain"
    system_prompt: str = SYSTEM_PROMPT
    keep_original: bool = True
    swap_prob: float = 0.5
    keep_background_prob: float = 1.0
    max_tokens: int | None = None
    tokenizer: str | None = None
    tasks: list[str] | None = None
    limit: int | None = None
    max_side: int | None = None
    exclude_leaked_from: str | None = None
    skip_invalid: bool = False

    def check(self) -> None:
        unknown = sorted(set(self.augment) - set(AUGMENTS))
        if unknown:
            raise ArcPrepError(f"unknown augmentation(s) {', '.join(unknown)}; known: {', '.join(AUGMENTS)}")
        if self.copies < 1:
            raise ArcPrepError("--copies must be at least 1")
        if not 0 <= self.swap_prob <= 1 or not 0 <= self.keep_background_prob <= 1:
            raise ArcPrepError("probabilities must lie in [0, 1]")
        if self.max_tokens is not None and not self.tokenizer:
            raise ArcPrepError("--max-tokens needs --tokenizer")


def sample_augmentation(cfg: BuildConfig, task: Task, copy: int, test_index: int) -> Augmentation:
    """The augmentation of one (task, copy, test output), drawn from an RNG seeded by exactly those.

    Dihedral transforms cycle through a per-task permutation of all 8, so ``copies`` = 8m gives each
    transform m times; with ``keep_original`` copy 0 is the unaugmented task (its real test output is
    always a target) and the identity transform leads the cycle.
    """
    if cfg.keep_original and copy == 0:
        return Augmentation()
    rng = random.Random(f"{cfg.seed}/{task.id}/{test_index}/{copy}")
    aug = Augmentation()
    if "dihedral" in cfg.augment:
        cycle = list(DIHEDRAL[1:]) if cfg.keep_original else list(DIHEDRAL)
        random.Random(f"{cfg.seed}/{task.id}/{test_index}/dihedral").shuffle(cycle)
        if cfg.keep_original:
            cycle.insert(0, "identity")
        aug.dihedral = cycle[copy % len(cycle)]
    if "color" in cfg.augment:
        aug.colors = random_colors(rng, keep_background=rng.random() < cfg.keep_background_prob)
    n_train = len(task.train)
    if "swap" in cfg.augment and rng.random() < cfg.swap_prob:
        aug.swap = rng.randrange(n_train)
    if "shuffle" in cfg.augment:
        aug.order = rng.sample(range(n_train), n_train)
    return aug


def select_tasks(cfg: BuildConfig) -> tuple[list[Task], dict[str, Any]]:
    """Load the source and apply the task filters; returns tasks and what was filtered (for the manifest)."""
    loaded = load_source(cfg.source, require_test_outputs=True, skip_invalid=cfg.skip_invalid)
    tasks, info = loaded.tasks, {"skipped_invalid": loaded.skipped}
    if cfg.exclude_leaked_from:
        reference = load_source(cfg.exclude_leaked_from, skip_invalid=True).tasks
        leaks = leaked_tasks(reference, tasks)
        tasks = [t for t in tasks if t.id not in leaks]
        info["excluded_leaked"] = {"reference": cfg.exclude_leaked_from, "count": len(leaks),
                                   "task_ids": sorted(leaks)}
    if cfg.tasks is not None:
        wanted = set(cfg.tasks)
        missing = sorted(wanted - {t.id for t in tasks})
        if missing:
            raise ArcPrepError(f"{cfg.source}: task id(s) not found: {', '.join(missing)}")
        tasks = [t for t in tasks if t.id in wanted]
    if cfg.max_side is not None:
        tasks = [t for t in tasks if all(max(len(g), len(g[0])) <= cfg.max_side
                                         for p in t.train + t.test for g in (p.input, p.output))]
    if cfg.limit is not None:
        tasks = tasks[: cfg.limit]
    if not tasks:
        raise ArcPrepError(f"{cfg.source}: no tasks left after filtering")
    return tasks, info


def _samples(cfg: BuildConfig, tasks: list[Task]) -> Iterator[dict[str, Any]]:
    for task in tasks:
        for test_index, test in enumerate(task.test):
            for copy in range(cfg.copies):
                aug = sample_augmentation(cfg, task, copy, test_index)
                train, target = aug.apply_pairs(task.train, test)
                yield {"task_id": task.id, "test_index": test_index, "copy": copy,
                       "augmentation": aug.to_json(), "_train": train, "_test": target}


def _finish(cfg: BuildConfig, sample: dict[str, Any], kept: int,
            messages: list[dict[str, str]] | None) -> dict[str, Any]:
    """The JSONL record: messages (re-rendered only if train pairs were dropped) + what was done."""
    train, test = sample.pop("_train"), sample.pop("_test")
    sample["n_train"] = kept
    sample["dropped_train"] = len(train) - kept
    if messages is None:
        messages = chat_messages(train[:kept], test, cfg.encoding, cfg.system_prompt)
    return {"messages": messages, **sample}


def build_dataset(cfg: BuildConfig, out: Path, progress: bool = True) -> dict[str, Any]:
    """Build the dataset described by ``cfg`` into ``out`` (JSONL) and ``out``.manifest.json; return the manifest."""
    cfg.check()
    tasks, info = select_tasks(cfg)
    counter = ChatTokenCounter(cfg.tokenizer) if cfg.tokenizer else None
    from tqdm import tqdm

    stats: Counter[str] = Counter()
    token_counts: list[int] = []
    digest = hashlib.sha256()
    n_samples = 0
    chunk: list[dict[str, Any]] = []
    with atomic_open(out) as handle:
        def flush() -> None:
            nonlocal n_samples
            full = [chat_messages(s["_train"], s["_test"], cfg.encoding, cfg.system_prompt) for s in chunk]
            lengths = counter.count_many(full) if counter else [None] * len(chunk)
            for sample, messages, length in zip(chunk, full, lengths):
                kept = len(sample["_train"])
                if cfg.max_tokens is not None and length > cfg.max_tokens:
                    def count(k: int, s: dict = sample) -> int:
                        return counter.count(chat_messages(s["_train"][:k], s["_test"], cfg.encoding, cfg.system_prompt))
                    fit = trim_to_budget(kept, count, cfg.max_tokens)
                    if fit is None:
                        stats["dropped_samples"] += 1
                        continue
                    kept, length = fit
                    stats["trimmed_samples"] += 1
                record = _finish(cfg, sample, kept, messages if kept == len(sample["_train"]) else None)
                if length is not None:
                    record["n_tokens"] = length
                    token_counts.append(length)
                _count_augmentation(stats, record["augmentation"])
                line = json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n"
                handle.write(line)
                digest.update(line.encode("utf-8"))
                n_samples += 1
            chunk.clear()

        total = sum(len(t.test) for t in tasks) * cfg.copies
        for sample in tqdm(_samples(cfg, tasks), total=total, desc=f"build {out.name}", unit="sample",
                           disable=None if progress else True, leave=False):
            chunk.append(sample)
            if len(chunk) >= 256:
                flush()
        flush()
        if n_samples == 0:
            raise ArcPrepError(f"{cfg.source}: every sample was over --max-tokens {cfg.max_tokens}; nothing written")
        manifest = _manifest(cfg, out, tasks, info, stats, token_counts, n_samples, digest.hexdigest())
        with atomic_open(manifest_path(out)) as mhandle:
            mhandle.write(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def _count_augmentation(stats: Counter[str], aug: dict[str, Any]) -> None:
    stats[f"dihedral:{aug['dihedral']}"] += 1
    stats["color_permuted"] += aug["colors"] != list(range(10))
    stats["background_permuted"] += aug["colors"][0] != 0
    stats["swapped"] += aug["swap"] is not None
    stats["shuffled"] += aug["order"] is not None and aug["order"] != sorted(aug["order"])


def manifest_path(out: Path) -> Path:
    """``data/NAME.jsonl`` -> ``data/NAME.manifest.json``."""
    return out.with_name(out.name.removesuffix(".jsonl") + ".manifest.json")


def _manifest(cfg: BuildConfig, out: Path, tasks: list[Task], info: dict[str, Any], stats: Counter[str],
              token_counts: list[int], n_samples: int, sha256: str) -> dict[str, Any]:
    tokens = token_stats(token_counts, cfg.tokenizer)
    return {
        "name": out.name.removesuffix(".jsonl"),
        "jsonl": out.name,
        "jsonl_sha256": sha256,
        "arcprep_version": __version__,
        "prompt_version": PROMPT_VERSION,
        "config": asdict(cfg),
        "encoding": cfg.encoding,
        "system_prompt": cfg.system_prompt,
        "seed": cfg.seed,
        "tasks": len(tasks),
        "task_ids": [t.id for t in tasks],
        "test_outputs": sum(len(t.test) for t in tasks),
        "samples": n_samples,
        "augmentations": {
            "enabled": list(cfg.augment),
            "copies": cfg.copies,
            "dihedral": {name: stats[f"dihedral:{name}"] for name in DIHEDRAL},
            **{key: stats[key] for key in ("color_permuted", "background_permuted", "swapped", "shuffled")},
        },
        "tokens": tokens,
        "max_tokens": cfg.max_tokens,
        "trimmed_samples": stats["trimmed_samples"],
        "dropped_samples": stats["dropped_samples"],
        **info,
    }
