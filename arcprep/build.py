"""Build one dataset: tasks -> augmented chat samples -> JSONL + manifest (atomically, deterministically).

A sample's query is a test pair (the default: test outputs are the targets) or, with ``leave_one_out``, each
demonstration pair in turn with the task's other demonstration pairs as its examples: test outputs are never read,
so a hidden test set (a challenges file without solutions) gives test-time training data.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from arccommon.errors import UserError
from arcprep.augment import DIHEDRAL, AugmentPolicy
from arcprep.leakage import leaked_tasks
from arcprep.prompt import PROMPT_VERSION, SYSTEM_PROMPTS, chat_messages, check_format
from arcprep.sources import load_source
from arcprep.tasks import Task
from arcprep.tokens import ChatTokenCounter, check_budget, fit_to_budget
from arcprep.writer import write_dataset


@dataclass
class BuildConfig:
    """Everything that determines a dataset's bytes (recorded in its manifest)."""

    source: str
    augment: list[str] = field(default_factory=list)
    copies: int = 1
    seed: int = 0
    encoding: str = "plain"
    system_prompt: str | None = None  # None: the prompt format's own system prompt
    prompt_format: str = "single"
    leave_one_out: bool = False
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

    @property
    def policy(self) -> AugmentPolicy:
        """The augmentation policy this dataset is drawn with."""
        return AugmentPolicy(tuple(self.augment), self.seed, self.keep_original, self.swap_prob,
                             self.keep_background_prob)

    @property
    def system(self) -> str:
        """The system prompt every sample gets."""
        return SYSTEM_PROMPTS[self.prompt_format] if self.system_prompt is None else self.system_prompt

    def check(self) -> None:
        self.policy.check()
        try:
            check_format(self.prompt_format)
        except ValueError as exc:
            raise UserError(f"--prompt-format: {exc}") from None
        if self.copies < 1:
            raise UserError("--copies must be at least 1")
        check_budget(self.max_tokens, self.tokenizer)


def select_tasks(cfg: BuildConfig) -> tuple[list[Task], dict[str, Any]]:
    """Load the source and apply the task filters; returns tasks and what was filtered (for the manifest)."""
    loaded = load_source(cfg.source, require_test_outputs=not cfg.leave_one_out, skip_invalid=cfg.skip_invalid)
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
            raise UserError(f"{cfg.source}: task id(s) not found: {', '.join(missing)}")
        tasks = [t for t in tasks if t.id in wanted]
    if cfg.max_side is not None:
        tasks = [t for t in tasks if all(max(len(g), len(g[0])) <= cfg.max_side
                                         for p in t.train + t.test for g in (p.input, p.output))]
    if cfg.limit is not None:
        tasks = tasks[: cfg.limit]
    if not tasks:
        raise UserError(f"{cfg.source}: no tasks left after filtering")
    return tasks, info


def queries(task: Task, leave_one_out: bool) -> list[tuple[str, int, Task]]:
    """(kind, index, the task as one sample sees it: its examples and its one query) per query. The query is each
    test pair, or with ``leave_one_out`` each demonstration pair held out from the others (a task with fewer than
    two has none)."""
    if not leave_one_out:
        return [("test_index", i, Task(task.id, task.train, [test])) for i, test in enumerate(task.test)]
    if len(task.train) < 2:
        return []
    return [("held_out", i, Task(task.id, task.train[:i] + task.train[i + 1:], [pair]))
            for i, pair in enumerate(task.train)]


def _samples(cfg: BuildConfig, tasks: list[Task]) -> Iterator[dict[str, Any]]:
    policy = cfg.policy
    for task in tasks:
        for kind, index, view in queries(task, cfg.leave_one_out):
            for copy in range(cfg.copies):
                aug = policy.draw(view, copy, index)
                train, target = aug.apply_pairs(view.train, view.test[0])
                yield {"task_id": task.id, kind: index, "copy": copy,
                       "augmentation": aug.to_json(), "_train": train, "_test": target}


def _records(cfg: BuildConfig, samples: Iterator[dict[str, Any]], stats: Counter[str]) -> Iterator[dict[str, Any]]:
    """JSONL records within the token budget: messages, where the sample came from, what was trimmed."""
    counter = ChatTokenCounter(cfg.tokenizer) if cfg.tokenizer else None

    def render(sample: dict[str, Any], kept: int) -> list[dict[str, str]]:
        return chat_messages(sample["_train"][:kept], sample["_test"], cfg.encoding, cfg.system, True,
                             cfg.prompt_format)

    for sample, kept, messages, length in fit_to_budget(samples, render, lambda s: len(s["_train"]), counter,
                                                        cfg.max_tokens, stats):
        n_train = len(sample.pop("_train"))
        sample.pop("_test")
        record = {"messages": messages, **sample, "n_train": kept, "dropped_train": n_train - kept}
        if length is not None:
            record["n_tokens"] = length
        _count_augmentation(stats, record["augmentation"])
        yield record


def build_dataset(cfg: BuildConfig, out: Path, progress: bool = True) -> dict[str, Any]:
    """Build the dataset described by ``cfg`` into ``out`` (JSONL) and ``out``.manifest.json; return the manifest."""
    from tqdm import tqdm

    cfg.check()
    tasks, info = select_tasks(cfg)
    stats: Counter[str] = Counter()
    total = sum(len(queries(t, cfg.leave_one_out)) for t in tasks) * cfg.copies
    samples = tqdm(_samples(cfg, tasks), total=total, desc=f"build {out.name}", unit="sample",
                   disable=None if progress else True, leave=False)
    return write_dataset(out, _records(cfg, samples, stats), lambda: _manifest(cfg, tasks, info, stats),
                         cfg.tokenizer, f"{cfg.source}: every sample was over --max-tokens {cfg.max_tokens}; "
                                        "nothing written")


def _count_augmentation(stats: Counter[str], aug: dict[str, Any]) -> None:
    stats[f"dihedral:{aug['dihedral']}"] += 1
    stats["color_permuted"] += aug["colors"] != list(range(10))
    stats["background_permuted"] += aug["colors"][0] != 0
    stats["swapped"] += aug["swap"] is not None
    stats["shuffled"] += aug["order"] is not None and aug["order"] != sorted(aug["order"])


def _manifest(cfg: BuildConfig, tasks: list[Task], info: dict[str, Any], stats: Counter[str]) -> dict[str, Any]:
    return {
        "prompt_version": PROMPT_VERSION,
        "config": asdict(cfg),
        "encoding": cfg.encoding,
        "prompt_format": cfg.prompt_format,
        "system_prompt": cfg.system,
        "seed": cfg.seed,
        "tasks": len(tasks),
        "task_ids": [t.id for t in tasks],
        "test_outputs": sum(len(t.test) for t in tasks),
        "queries": sum(len(queries(t, cfg.leave_one_out)) for t in tasks),
        **({"leave_one_out": {"skipped_single_pair_tasks": sorted(t.id for t in tasks if len(t.train) < 2)}}
           if cfg.leave_one_out else {}),
        "augmentations": {
            "enabled": list(cfg.augment),
            "copies": cfg.copies,
            "dihedral": {name: stats[f"dihedral:{name}"] for name in DIHEDRAL},
            **{key: stats[key] for key in ("color_permuted", "background_permuted", "swapped", "shuffled")},
        },
        "max_tokens": cfg.max_tokens,
        "trimmed_samples": stats["trimmed_samples"],
        "dropped_samples": stats["dropped_samples"],
        **info,
    }
