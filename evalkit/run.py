"""The evaluation loop: resumable per-task results, progress, and the final files in --out."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from arccommon.errors import UserError
from arccommon.files import atomic_write_text, read_json
from arcprep.encoding import encode_grid, max_answer_tokens
from arcprep.sources import load_source
from arcprep.tasks import Task
from evalkit.predict import Predictor, Scorer, WorkItem, revert, work_items
from evalkit.scoring import ATTEMPT_KEYS, summarize, task_record
from evalkit.selection import SELECTIONS, Option, fill_attempts, options, rank
from evalkit.shards import Shard
from recipes.record import PromptSettings

PER_TASK = "per_task.jsonl"
# EvalConfig fields an older run.json lacks: it had their defaults
NEWER_KEYS = ("dfs_threshold", "dfs_max", "score_views")


@dataclass
class EvalConfig:
    """What determines a run's results (recorded in run.json; a resumed run must match)."""

    split: str
    adapter: str | None
    base: str
    select: str = "vote"
    augmentations: int = 1
    seed: int = 0
    max_new_tokens: int = field(default_factory=max_answer_tokens)
    encoding: str = "plain"
    system_prompt: str = ""
    stop_past_truth: bool = False
    prompt_format: str = "single"
    adapter_per_task: str | None = None
    dfs_threshold: float | None = None  # depth-first sampling: every answer this likely per view (evalkit/dfs.py)
    dfs_max: int = 0  # ... at most this many per view
    score_views: int = 0  # likelihood scores candidates under this many views (0: the generated ones)


def select(split: str, tasks: list[str] | None, limit: int | None) -> list[Task]:
    loaded = load_source(split).tasks
    if tasks:
        missing = sorted(set(tasks) - {t.id for t in loaded})
        if missing:
            raise UserError(f"{split}: task id(s) not found: {', '.join(missing)}")
        loaded = [t for t in loaded if t.id in set(tasks)]
    return loaded[:limit] if limit else loaded


def per_task_file(shard: Shard) -> str:
    """Where a process appends its finished tasks: per_task.jsonl, or per_task.shard-R.jsonl when sharded."""
    return PER_TASK if shard.count == 1 else f"per_task.shard-{shard.index}.jsonl"


def finished_tasks(out: Path) -> dict[str, dict[str, Any]]:
    """Finished tasks of every per-task file in ``out`` (one file, or one per shard of a sharded run)."""
    done = {}
    for path in sorted(out.glob("per_task*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
                done[rec["task_id"]] = rec
            except (json.JSONDecodeError, KeyError):
                continue  # a line cut by an interrupt: that task is redone
    return done


def _check_same_run(out: Path, cfg: EvalConfig) -> None:
    path = out / "run.json"
    if path.exists():
        defaults = json.loads(json.dumps(asdict(EvalConfig(cfg.split, cfg.adapter, cfg.base))))
        previous = {**{k: defaults[k] for k in NEWER_KEYS}, **read_json(path)}  # run.json written before them
        if previous != json.loads(json.dumps(asdict(cfg))):
            raise UserError(f"{out}: holds results of a different run (see run.json); choose another --out")
    else:
        atomic_write_text(path, json.dumps(asdict(cfg), indent=2) + "\n")


def evaluate(cfg: EvalConfig, tasks: list[Task], predictor: Predictor, out: Path, settings: PromptSettings,
             batch_tasks: int = 8, count=None, max_prompt_tokens: int | None = None,
             progress: bool = True, scorer: Scorer | None = None,
             switch: Callable[[str], str] | None = None, shard: Shard | None = None) -> dict[str, Any] | None:
    """Predict every task not yet in ``out``/per_task.jsonl, append results per task, then write the summary.

    With a ``shard`` of several (evalkit/shards.py) this process predicts its share only, into its own per-task
    file; the main process then merges every shard's results and returns the summary (the others return None).

    With a ``scorer`` (teacher-forced log-likelihoods) both selections are computed from the same candidates and
    ``cfg.select`` picks the attempts written; without one only ``vote`` can be computed. With ``switch`` (per-task
    adapters) tasks are predicted one at a time, each after ``switch(task_id)`` made its own model active. A
    predictor that ``routes_tasks`` (the vLLM engine) is instead told each prompt's task and serves every task's
    adapter in the same batch.
    """
    from tqdm import tqdm

    modes = SELECTIONS if scorer is not None else ("vote",)
    if cfg.select not in modes:
        raise UserError(f"--select {cfg.select}: needs a model to score candidates; choose from {', '.join(modes)}")
    out.mkdir(parents=True, exist_ok=True)
    _check_same_run(out, cfg)
    shard = shard or Shard()
    done = finished_tasks(out)
    mine = shard.mine(tasks)
    todo = [t for t in mine if t.id not in done]
    start, new_tokens, gen_seconds, select_seconds = time.perf_counter(), 0, 0.0, 0.0
    label = "tasks" if shard.count == 1 else f"tasks (shard {shard.index + 1}/{shard.count})"
    bar = tqdm(total=len(mine), initial=len(mine) - len(todo), desc=label, unit="task",
               disable=None if progress else True, position=shard.index)
    routed = getattr(predictor, "routes_tasks", False)
    with open(out / per_task_file(shard), "a", encoding="utf-8") as handle:
        step = 1 if switch is not None else batch_tasks
        for i in range(0, len(todo), step):
            window = todo[i:i + step]
            used = switch(window[0].id) if switch is not None else None
            items: list[WorkItem] = [w for t in window for w in work_items(
                t, cfg.augmentations, cfg.seed, settings, count, max_prompt_tokens)]
            t0 = time.perf_counter()
            limits: dict[str, Any] = {"max_sides": [w.max_side for w in items]}
            if cfg.stop_past_truth:
                limits["answers"] = _true_answers(items, window, cfg)
            if routed:
                limits["task_ids"] = [w.task_id for w in items]
            generations = _generate(predictor, cfg, [w.messages for w in items], limits)
            gen_seconds += time.perf_counter() - t0
            new_tokens += sum(g.new_tokens for gs in generations for g in gs)
            t0 = time.perf_counter()
            found = {}
            for task in window:
                answered = [(w, gs) for w, gs in zip(items, generations) if w.task_id == task.id]
                cands = [revert(w, g, settings.encoding) for w, gs in answered for g in gs]
                judges = [w for w, _ in answered] if cfg.score_views <= cfg.augmentations else work_items(
                    task, cfg.score_views, cfg.seed, settings, count, max_prompt_tokens)
                found[task.id] = (judges, cands, [options(cands, t) for t in range(len(task.test))])
            if scorer is not None:  # every task of the window in one call: a routing engine batches them
                _score_options([(views, pools) for views, _, pools in found.values()], scorer, settings.encoding,
                               routed)
            for task in window:
                _, cands, pools = found[task.id]
                rec = _task_result(task, cands, pools, modes, cfg.select)
                label = used if used is not None else predictor.adapter_label(task.id) if routed else None
                if label is not None:
                    rec["adapter"] = label
                handle.write(json.dumps(rec) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
                done[task.id] = rec
                bar.update(1)
            select_seconds += time.perf_counter() - t0
            if routed:
                predictor.release([t.id for t in window])
            scored = [done[t.id]["score_record"] for t in mine if t.id in done and done[t.id]["score_record"]]
            bar.set_postfix(score=f"{summarize(scored)['score']:.3f}" if scored else "-",
                            tok_s=f"{new_tokens / max(gen_seconds, 1e-9):.1f}")
    bar.close()
    timing = {"new_tokens": new_tokens, "generation_s": gen_seconds, "selection_s": select_seconds}
    if shard.count > 1:  # the main process adds up every shard's work
        atomic_write_text(out / f"timing.shard-{shard.index}.json", json.dumps(timing) + "\n")
    shard.barrier()
    if not shard.is_main:
        return None
    if shard.count > 1:
        shares = [read_json(out / f"timing.shard-{i}.json") for i in range(shard.count)]
        timing = {key: sum(share[key] for share in shares) for key in timing}
        done = finished_tasks(out)
    missing = [t.id for t in tasks if t.id not in done]
    if missing:
        raise UserError(f"{out}: no result for task(s) {', '.join(missing)} (a shard failed? run again to resume)")
    records = [done[t.id] for t in tasks]
    return _write_outputs(cfg, records, out, timing["new_tokens"], timing["generation_s"], timing["selection_s"],
                          time.perf_counter() - start)


def _generate(predictor: Predictor, cfg: EvalConfig, conversations: list[list[dict[str, str]]],
              limits: dict[str, Any]) -> list[list[Any]]:
    """Each conversation's candidate answers: its greedy one, or with ``cfg.dfs_threshold`` every answer at least
    that likely (at most ``cfg.dfs_max``; a predictor with ``explore``: evalkit/dfs.py)."""
    if cfg.dfs_threshold is None:
        return [[g] for g in predictor(conversations, **limits)]
    explore = getattr(predictor, "explore", None)
    if explore is None:
        raise UserError(f"depth-first sampling (--dfs) needs the hf engine; {type(predictor).__name__} has none")
    return explore(conversations, cfg.dfs_threshold, cfg.dfs_max, max_sides=limits.get("max_sides"))


def _true_answers(items: list[WorkItem], window: list[Task], cfg: EvalConfig) -> list[str | None]:
    """Each prompt's true answer as the model should write it (augmented, encoded), for stop_past_truth."""
    truth = {t.id: [p.output for p in t.test] for t in window}
    out = []
    for w in items:
        grid = truth[w.task_id][w.test_index]
        out.append(None if grid is None else encode_grid(w.augmentation.apply_grid(grid), cfg.encoding))
    return out


def _score_options(tasks: list[tuple[list[WorkItem], list[list[Option]]]], scorer: Scorer, encoding: str,
                   routed: bool = False) -> None:
    """Set each option's log-likelihood summed over the views of its test output (only where there is a choice),
    for each task's (views, option pools) at once; a ``routed`` scorer is told each pair's task."""
    pairs, owners, task_ids = [], [], []
    for views, pools in tasks:
        for t, pool in enumerate(pools):
            if len(pool) < 2:
                continue
            for option in pool:
                option.loglik = 0.0
            for w in (w for w in views if w.test_index == t):
                for option in pool:
                    pairs.append((w.messages, encode_grid(w.augmentation.apply_grid(option.grid), encoding)))
                    owners.append(option)
                    task_ids.append(w.task_id)
    if not pairs:
        return
    for option, loglik in zip(owners, scorer(pairs, task_ids=task_ids) if routed else scorer(pairs)):
        option.loglik += loglik


def _task_result(task: Task, candidates: list[dict[str, Any]], pools: list[list[Option]], modes: tuple[str, ...],
                 select: str) -> dict[str, Any]:
    """Attempts under every selection mode, the chosen mode's attempts, and their score records."""
    truths = [p.output for p in task.test]
    ranked = {mode: [rank(pool, mode) for pool in pools] for mode in modes}
    by_mode = {mode: [fill_attempts(grids, pair.input) for grids, pair in zip(ranked[mode], task.test)]
               for mode in modes}
    records = {}
    if all(t is not None for t in truths):
        generated = [[c["grid"] for c in candidates if c["test_index"] == i] for i in range(len(truths))]
        for mode in modes:
            answers = [grids[0] if grids else None for grids in ranked[mode]]  # the model's own first answers
            records[mode] = task_record(task.id, by_mode[mode], truths, generated, answers)
    return {"task_id": task.id, "attempts": by_mode[select], "attempts_by_mode": by_mode, "candidates": candidates,
            "options": [[{"grid": o.grid, "votes": o.votes, "mean_logprob": o.mean_logprob, "loglik": o.loglik}
                         for o in pool] for pool in pools],
            "score_record": records.get(select), "score_records": records}


def _write_outputs(cfg: EvalConfig, records: list[dict[str, Any]], out: Path, new_tokens: int, gen_s: float,
                   select_s: float, wall_s: float) -> dict[str, Any]:
    predictions = {r["task_id"]: [dict(zip(ATTEMPT_KEYS, atts)) for atts in r["attempts"]] for r in records}
    atomic_write_text(out / "predictions.json", json.dumps(predictions) + "\n")
    scored = [r["score_record"] for r in records if r["score_record"]]
    cands = [c for r in records for c in r["candidates"]]
    summary: dict[str, Any] = {
        **(summarize(scored) if scored else {"score": None, "output_accuracy": None}),
        "unparseable_candidates": sum(c["grid"] is None for c in cands) / len(cands) if cands else 0.0,
        "generated_tokens": new_tokens, "tokens_per_s": new_tokens / gen_s if gen_s else None,
        "generation_s": gen_s, "selection_s": select_s, "wall_s": wall_s, "model": cfg.base, "adapter": cfg.adapter,
        "adapter_per_task": cfg.adapter_per_task,
        "split": cfg.split, "select": cfg.select, "augmentations": cfg.augmentations, "encoding": cfg.encoding,
        "dfs_threshold": cfg.dfs_threshold, "dfs_max": cfg.dfs_max, "score_views": cfg.score_views or None,
        "prompt_format": cfg.prompt_format,
        "selection": _selection_summary(records),
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _selection_summary(records: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per selection mode, from the same candidates: score, pass@1, pass@2 (and the oracle, shared by all modes)."""
    modes = {mode for r in records for mode in r.get("score_records", {})}
    out = {}
    for mode in sorted(modes):
        metrics = summarize([r["score_records"][mode] for r in records if mode in r.get("score_records", {})])
        out[mode] = {"score": metrics["score"], "pass_at_1": metrics["pass_at_1"],
                     "pass_at_2": metrics["output_accuracy"], "oracle_pass_at_n": metrics["oracle_pass_at_n"]}
    return out
