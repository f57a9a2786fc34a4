"""Turn finished runs into results.md (one row per run, then the four questions) and a loss-curve PNG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from arccommon.files import atomic_open, atomic_write_text
from arccommon.precision import decide_precision
from experiments.plan import SPLITS, Plan

QUESTIONS = [
    ("Q1 learn the train tasks", "train", "train", "base", "train"),
    ("Q1 learn the eval tasks", "eval", "eval", "base", "eval"),
    ("Q2 train -> eval", "train", "eval", "base", "eval"),
    ("Q2 eval -> train", "eval", "train", "base", "train"),
    ("Q3 train+eval -> test", "trainval", "test", "base", "test"),
    ("Q2 train -> eval, then test-time training on eval", "ttt_eval", "eval", "train", "eval"),
    ("Q3 train+eval -> test, then test-time training on test", "ttt_test", "test", "trainval", "test"),
    ("Q4 count priors, then train (on train)", "count_train", "train", "train", "train"),
    ("Q4 count priors, then train (on eval)", "count_train", "eval", "train", "eval"),
    ("Q1 at breadth: the prior (all 400 train tasks) on train", "prior", "train", "base", "train"),
    ("Q2 at breadth: the prior on eval, tasks it never saw", "prior", "eval", "base", "eval"),
    ("Q2 at breadth: the prior on eval, against the narrow train adapter", "prior", "eval", "train", "eval"),
    ("Q2 test-time training from the prior, on eval", "ttt_eval_prior", "eval", "prior", "eval"),
    ("Q2 test-time training: from the prior against from the narrow train adapter", "ttt_eval_prior", "eval",
     "ttt_eval", "eval"),
    ("Q1 at breadth: the prior's second pass against its first, on train", "prior2", "train", "prior", "train"),
    ("Q2 at breadth: the prior's second pass against its first, on eval", "prior2", "eval", "prior", "eval"),
    ("Q2 test-time training: from the second pass against from the first", "ttt_eval_prior2", "eval",
     "ttt_eval_prior", "eval"),
]


def _score(summary: dict[str, Any] | None) -> str:
    if not summary or summary.get("score") is None:
        return ""
    return (f"{summary['score']:.3f} ({summary['tasks_solved']}/{summary['n_tasks']}), "
            f"shape {summary['shape_accuracy']:.0%}")


def _num(value: Any, fmt: str = "{:,}") -> str:
    return "" if value is None else fmt.format(value)


def table(plan: Plan, results: dict[str, dict[str, Any]]) -> str:
    """The Markdown table: one row per run."""
    head, rows = table_rows(plan, results)
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
                      *("| " + " | ".join(row) + " |" for row in rows)])


def table_rows(plan: Plan, results: dict[str, dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """(header, one row per run): what each run trained on, how long, its losses and its score per split."""
    head = ["run", "recipe", "trained on", "after", "samples", "steps", "tokens seen", "train wall", "start loss",
            "final loss", *[f"score {s}" for s in SPLITS]]
    rows = []
    for run in plan.runs:
        rec = results[run.name]["train"] or {}
        losses = rec.get("losses") or []
        row = [run.name, rec.get("recipe", "(none: base model)"),
               f"{rec['dataset']} ({rec['tasks']} tasks)" if rec.get("tasks") else rec.get("dataset", ""),
               run.after or "", _num(rec.get("samples")), _num(rec.get("steps")), _num(rec.get("tokens_seen")),
               _num(rec.get("wall_s"), "{:.0f} s"), _num(losses[0][1] if losses else None, "{:.3f}"),
               _num(losses[-1][1] if losses else None, "{:.3f}"),
               *[_score(results[run.name]["eval"].get(s)) for s in SPLITS]]
        rows.append(row)
    return head, rows


def selection_table(plan: Plan, results: dict[str, dict[str, Any]]) -> str:
    """Per evaluated (run, split): the right answer generated at all (oracle), then pass@1 and pass@2 of each
    selection mode, all from the same candidates: the selection gap."""
    modes = sorted({m for r in results.values() for summary in r["eval"].values()
                    for m in (summary.get("selection") or {})})
    head = ["run", "split", "views", "oracle (any candidate right)",
            *[f"{m} pass@{k}" for m in modes for k in (1, 2)]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for run in plan.runs:
        for split, summary in results[run.name]["eval"].items():
            chosen = summary.get("selection") or {}
            if not chosen:
                continue
            row = [run.name, split, str(summary.get("augmentations", "")), f"{summary['oracle_pass_at_n']:.0%}"]
            row += [f"{chosen[m][f'pass_at_{k}']:.0%}" if m in chosen else "" for m in modes for k in (1, 2)]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) if len(lines) > 2 else ""


def answers(results: dict[str, dict[str, Any]]) -> list[str]:
    """One line per question: the run's score beside its reference, read off the table (no judgement added)."""
    lines = []
    for label, run, split, ref, ref_split in QUESTIONS:
        got = (results.get(run) or {}).get("eval", {}).get(split)
        base = (results.get(ref) or {}).get("eval", {}).get(ref_split)
        if got and base and got.get("score") is not None and base.get("score") is not None:
            lines.append(f"- {label}: {run} scores {_score(got)} on {split}{solved(results, run, split)}; {ref} "
                         f"scores {_score(base)}{solved(results, ref, ref_split)}.")
    first = [(results.get(r) or {}).get("train") or {} for r in ("train", "count_train")]
    if all(f.get("losses") for f in first):
        lines.append(f"- Q4 loss on ARC: from the base adapter {first[0]['losses'][0][1]:.3f} -> "
                     f"{first[0]['losses'][-1][1]:.3f}; from the count-priors adapter "
                     f"{first[1]['losses'][0][1]:.3f} -> {first[1]['losses'][-1][1]:.3f} (same steps and data).")
    return lines


def solved(results: dict[str, dict[str, Any]], run: str, split: str) -> str:
    """" (solved: a, 50% of b)": the tasks of ``split`` the run solves in whole or in part, or ''."""
    scores = ((results.get(run) or {}).get("task_outcomes") or {}).get(split, ({}, {}))[0]
    parts = [t if v >= 1.0 else f"{v:.0%} of {t}" for t, v in sorted(scores.items()) if v > 0]
    return f" (solved: {', '.join(parts)})" if parts else ""


def ttt_lines(plan: Plan, results: dict[str, dict[str, Any]]) -> list[str]:
    """Per test-time-training run: the tasks it gained and lost against the run it continued (same split, same
    tasks: with a dozen tasks the mean hides swaps), and its wall time per task."""
    lines = []
    for run in plan.runs:
        rec = (results.get(run.name) or {}).get("train") or {}
        if not rec.get("ttt_mode") or run.after not in results:
            continue
        for split, (mine, mine_shapes) in (results[run.name].get("task_outcomes") or {}).items():
            if split not in (results[run.after].get("task_outcomes") or {}):
                continue
            before, before_shapes = results[run.after]["task_outcomes"][split]
            gained = sorted(t for t, v in mine.items() if v > before.get(t, 0.0))
            lost = sorted(t for t, v in mine.items() if v < before.get(t, 0.0))
            n = len(mine) or 1
            evaluation = results[run.name]["eval"][split].get("wall_s") or 0.0
            lines.append(f"- {run.name} ({rec['ttt_mode']}) on {split}, against {run.after}: gained "
                         f"{', '.join(gained) or 'none'}; lost {', '.join(lost) or 'none'}. Wall time per task: "
                         f"{rec['wall_s'] / n:.0f} s training + {evaluation / n:.0f} s evaluation."
                         + (f" Time outside the trainer's loop: {rec['overhead']:.0%} of the training wall time."
                            if rec.get("overhead") is not None else "") + startup_note(rec))
            lines += per_task_table(rec, (before, before_shapes), (mine, mine_shapes))
    return lines


def startup_note(rec: dict[str, Any]) -> str:
    """" Axolotl's import, once per process, ...: N s (P processes)." for in-process per-task training, else ''."""
    startup = rec.get("startup_s") or []
    if not startup:
        return ""
    return (f" Axolotl's import, once per process, outside every task's wall time: "
            f"{sum(startup) / len(startup):.0f} s ({len(startup)} process{'es' if len(startup) > 1 else ''}).")


def per_task_table(rec: dict[str, Any], before: tuple[dict[str, float], dict[str, float]],
                   after: tuple[dict[str, float], dict[str, float]]) -> list[str]:
    """Per-task test-time training, one row a task: samples, first and final loss, seconds, and score and shape
    (share of test outputs with the right shape) before and after; ``before``/``after``: ({task: score},
    {task: shape})."""
    walls = rec.get("task_wall_s") or {}
    if not walls:
        return []
    trains, finals = rec.get("task_train_s") or {}, rec.get("task_final_loss") or {}
    firsts, samples = rec.get("task_first_loss") or {}, rec.get("task_samples") or {}
    rows = ["", "| task | samples | loss first -> final | wall s | trainer s | score before -> after | "
                "shape before -> after |", "|---|---|---|---|---|---|---|"]

    def num(value: Any, fmt: str) -> str:
        return format(value, fmt) if isinstance(value, (int, float)) else "-"

    for task in sorted(walls):
        rows.append(f"| {task} | {samples.get(task, '-')} | {num(firsts.get(task), '.3f')} -> "
                    f"{num(finals.get(task), '.3f')} | {num(walls[task], '.0f')} | {num(trains.get(task), '.0f')} | "
                    f"{num(before[0].get(task), '.2f')} -> {num(after[0].get(task), '.2f')} | "
                    f"{num(before[1].get(task), '.0%')} -> {num(after[1].get(task), '.0%')} |")
    return rows + [""]


def other_formats(results: dict[str, dict[str, Any]], prompt_format: str) -> str:
    """' (`RUN` prompted FORMAT, ...: why)' for the runs evaluated with a prompt format other than ``prompt_format``
    (evalkit takes it from the adapter's training record; the base model, with none, gets its default), else ''."""
    found = {name: fmt for name, res in results.items() for summary in (res.get("eval") or {}).values()
             if summary and (fmt := summary.get("prompt_format", prompt_format)) != prompt_format}
    if not found:
        return ""
    return " (" + ", ".join(f"`{name}` prompted {fmt}" for name, fmt in found.items()) + \
        ": evalkit prompts as the adapter was trained, a model without one in its default format)"


def write_results(plan: Plan, results: dict[str, dict[str, Any]], md: Path, png: Path, command: str) -> None:
    """results.md and the loss PNG beside it."""
    s = plan.scale
    schedule = (f"{s.epochs:g} epochs per training" if s.epochs else
                f"{s.steps} steps per training stage")
    schedule += (f", {s.ttt_steps} steps per test-time-training adapter" if s.ttt_steps else
                 f", {s.ttt_epochs:g} epoch(s) per test-time-training adapter over its own samples")
    text = [f"# Experiment results — scale `{s.name}`", "",
            f"Made by `{command}`. Base model `{s.base_model}`; per split the {s.tasks} smallest tasks"
            f"{f' after the {s.skip_tasks} smallest' if s.skip_tasks else ''} (ARC-AGI-2 "
            f"eval without tasks leaked from ARC-AGI-1); {s.copies} samples per test output; {schedule}; prompt "
            f"format {s.prompt_format}{other_formats(results, s.prompt_format)}; test-time training {s.ttt_mode} "
            f"({s.ttt_copies} samples per held-out demonstration pair); {s.count_samples} count-priors chats; "
            f"{s.augmentations} view(s) per test input at evaluation, 2 attempts chosen by evalkit's default "
            f"selection; score = mean per-task fraction of test outputs solved (tasks fully solved in brackets); "
            f"shape = share of test outputs whose model answer has the right shape; "
            f"precision: {decide_precision('cpu').line().removeprefix('precision: ')} (CPU runs)."
            + (f" Recipe keys set for every training run: `{json.dumps(s.overrides)}`." if s.overrides else "")
            + (f" And for test-time training: `{json.dumps(s.ttt_overrides)}`." if s.ttt_overrides else ""),
            "", table(plan, results), "", "## The questions", "", *answers(results), "",
            *(["## Test-time training, task by task", "", *ttt, ""] if (ttt := ttt_lines(plan, results)) else []),
            *(["## Selection: the same candidates, chosen by vote or by likelihood", "", selection, ""]
              if (selection := selection_table(plan, results)) else []),
            f"![training loss]({png.name})", ""]
    atomic_write_text(md, "\n".join(text))
    plot_losses(results, png)


def plot_losses(results: dict[str, dict[str, Any]], png: Path) -> None:
    """Training loss per step of every trained run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, res in results.items():
        losses = (res["train"] or {}).get("losses") or []
        if losses:
            ax.plot([s for s, _ in losses], [v for _, v in losses], label=name)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_open(png, "wb") as handle:
        fig.savefig(handle, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
