"""``python -m experiments.prior_sweep``: measure the broad prior's LoRA settings on a slice of ARC-1 train tasks.

Reads experiments/prior_sweep.yml (the slice rule and the candidates), builds the slice's training and held-out
datasets, trains each candidate (the prior's recipe with its keys changed) with Axolotl for the same steps on the
same samples, and writes a table of held-out loss, last-steps loss and trainer seconds. Re-running skips finished
candidates and resumes an interrupted one.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arccommon.cli import run_command
from arccommon.errors import UserError
from arccommon.files import atomic_open, atomic_write_text, load_yaml, read_json
from arcprep.augment import AUGMENTS
from arcprep.build import BuildConfig
from arcprep.sources import load_source
from arcprep.spec import build_any, is_up_to_date
from arcprep.tasks import Task
from experiments.plan import by_size

SWEEP = Path(__file__).with_name("prior_sweep.yml")
KEYS = {"slice", "copies", "held_out_copies", "steps", "recipe", "common", "candidates"}
SLICE_KEYS = {"source", "first_rank", "last_rank", "held_out_every"}
EVAL_LOSS = re.compile(r"'eval_loss': '?([0-9.]+)")
LAST_STEPS = 8  # the "own loss" is the mean training loss of the last this many steps


@dataclass
class Sweep:
    """The sweep file, checked: the slice rule, the data sizes, the recipe and its candidates' changed keys."""

    source: str
    first_rank: int
    last_rank: int
    held_out_every: int
    copies: int
    held_out_copies: int
    steps: int
    recipe: Path
    common: dict[str, Any]
    candidates: dict[str, dict[str, Any]]


def load_sweep(path: Path = SWEEP) -> Sweep:
    """Read and check the sweep file; a mistake is one UserError naming the file and the key."""
    spec = load_yaml(path)
    unknown = sorted(set(spec) - KEYS) + [f"slice.{k}" for k in sorted(set(spec.get("slice") or {}) - SLICE_KEYS)]
    missing = sorted(KEYS - {"common"} - set(spec)) + [f"slice.{k}" for k in sorted(SLICE_KEYS - set(spec.get("slice")
                                                                                                    or {}))]
    if unknown or missing:
        raise UserError(f"{path}: " + "; ".join([f"unknown key {k}" for k in unknown] + [f"missing {k}" for k in missing]))
    cut = spec["slice"]
    if not 1 <= cut["first_rank"] <= cut["last_rank"] or cut["held_out_every"] < 2:
        raise UserError(f"{path}: slice: need 1 <= first_rank <= last_rank and held_out_every >= 2")
    candidates = spec["candidates"] or {}
    if not candidates or not all(isinstance(v, dict) for v in candidates.values()):
        raise UserError(f"{path}: candidates: expected a mapping of name -> recipe keys")
    return Sweep(cut["source"], cut["first_rank"], cut["last_rank"], cut["held_out_every"], spec["copies"],
                 spec["held_out_copies"], spec["steps"], Path(spec["recipe"]), spec.get("common") or {}, candidates)


def slice_tasks(sweep: Sweep, tasks: list[Task]) -> tuple[list[Task], list[Task]]:
    """(trained-on, held-out) tasks: ranks first..last by cell count (ties by id); every ``held_out_every``-th rank
    of the slice held out."""
    ranked = by_size(tasks)[sweep.first_rank - 1:sweep.last_rank]
    held = [t for i, t in enumerate(ranked, 1) if i % sweep.held_out_every == 0]
    return [t for t in ranked if t not in held], held


def datasets(sweep: Sweep, work: Path, tokenizer: str) -> tuple[Path, Path, list[Task], list[Task]]:
    """Build (or reuse) the slice's training and held-out datasets; returns their paths and tasks."""
    trained, held = slice_tasks(sweep, load_source(sweep.source).tasks)
    common = dict(source=sweep.source, augment=list(AUGMENTS), seed=0, tokenizer=tokenizer,
                  max_tokens=2048, prompt_format="multiturn")
    out = []
    for name, tasks, copies in (("train", trained, sweep.copies), ("held_out", held, sweep.held_out_copies)):
        path = work / "data" / f"{name}.jsonl"
        cfg = BuildConfig(tasks=sorted(t.id for t in tasks), copies=copies, **common)
        if not is_up_to_date(cfg, path):
            manifest = build_any(cfg, path)
            print(f"built {path}: {manifest['samples']} samples", flush=True)
        out.append(path)
    return out[0], out[1], trained, held


def overrides(sweep: Sweep, recipe: dict[str, Any], name: str, train: Path, held: Path, work: Path,
              root: Path) -> dict[str, Any]:
    """The recipe keys candidate ``name`` trains with: data, folders, steps, the held-out evaluation at the last
    step, then the sweep's common keys and the candidate's own."""
    changed = {**sweep.common, **sweep.candidates[name]}
    steps = int(changed.pop("max_steps", sweep.steps))
    dataset = {**recipe["datasets"][0], "path": str(train.resolve())}
    folder = work / "runs" / name
    return {
        "base_model": str((root / recipe["base_model"]).resolve()),
        "datasets": [dataset], "test_datasets": [{**recipe["datasets"][0], "path": str(held.resolve())}],
        "val_set_size": 0, "eval_strategy": "steps", "eval_steps": steps,
        "output_dir": str((folder / "adapter").resolve()), "dataset_prepared_path": str((work / "prepared").resolve()),
        "max_steps": steps, "save_steps": steps, **changed,
    }


def measure(log: Path) -> dict[str, Any]:
    """Held-out loss, own loss of the last steps and trainer seconds, read from a finished candidate's log."""
    from recipes.prior import read_log

    curve, _, ends = read_log(log)
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    held = EVAL_LOSS.findall(text)  # Axolotl evaluates before the first step and at eval_steps
    if not curve or not ends or len(held) < 2:
        raise UserError(f"{log}: the candidate did not finish (no final loss, runtime or eval_loss)")
    last = [v for _, v in curve[-LAST_STEPS:]]
    return {"steps": curve[-1][0], "held_out_before": float(held[0]), "held_out_loss": float(held[-1]),
            "own_loss_last": round(sum(last) / len(last), 4),
            "trainer_seconds": round(float(ends[-1]["train_runtime"]), 1)}


def settings(sweep: Sweep, name: str) -> dict[str, Any]:
    """What decides candidate ``name``'s training beyond the shared data: its keys over the common ones, and steps."""
    return {"steps": sweep.steps, **sweep.common, **sweep.candidates[name]}


def run_candidate(sweep: Sweep, recipe: dict[str, Any], name: str, train: Path, held: Path, work: Path,
                  root: Path) -> dict[str, Any]:
    """Train candidate ``name`` (or reuse its finished record, made with the same settings) and return its
    measures."""
    from recipes.launch import train as train_recipe

    result = work / "runs" / name / "result.json"  # written when the candidate finished
    log = work / "runs" / name / "train.log"
    if result.exists():
        record = read_json(result)
        if record.get("settings") != settings(sweep, name):
            raise UserError(f"{result}: candidate {name} was trained with {record.get('settings')}, the sweep file "
                            f"now says {settings(sweep, name)}; delete {result.parent} to train it again")
        return record
    keys = overrides(sweep, recipe, name, train, held, work, root)
    print(f"[{name}] Axolotl's output: {log}", flush=True)
    train_recipe(root / sweep.recipe, keys, root=root, log=log, label=f"[{name}]")
    measured = {"candidate": name, "changed": sweep.candidates[name], "settings": settings(sweep, name),
                **measure(log)}
    atomic_write_text(result, json.dumps(measured, indent=2) + "\n")
    return measured


def table(sweep: Sweep, results: list[dict[str, Any]], trained: list[Task], held: list[Task], command: str,
          cpu: str) -> str:
    """The sweep's results as Markdown: the rule, the tasks, one row per candidate."""
    rows = ["| candidate | changed keys | steps | held-out loss before | held-out loss after | own loss, last "
            f"{LAST_STEPS} steps | trainer s |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        changed = ", ".join(f"{k}: {v if not isinstance(v, list) else f'{v[0]}-{v[-1]}'}"
                            for k, v in r["changed"].items()) or "(the shipped prior's recipe)"
        rows.append(f"| {r['candidate']} | {changed} | {r['steps']} | {r['held_out_before']:.4f} | "
                    f"{r['held_out_loss']:.4f} | "
                    f"{r['own_loss_last']:.4f} | {r['trainer_seconds']:.0f} |")
    return "\n".join([
        "# The prior's LoRA settings on a slice of ARC-1 train tasks", "",
        f"Made by `{command}` ({cpu}). Rule (experiments/prior_sweep.yml, fixed before the run): ARC-1 {sweep.source} "
        f"tasks ranked {sweep.first_rank}-{sweep.last_rank} by cell count; every {sweep.held_out_every}th rank held "
        f"out. Each candidate is {sweep.recipe} with the keys shown changed (for every candidate also "
        f"{', '.join(f'{k}: {v}' for k, v in sweep.common.items()) or 'nothing'}), trained from the base model for "
        f"{sweep.steps} steps unless it changes max_steps, on the same samples ({sweep.copies} views per test "
        f"output); held-out loss: Axolotl's eval loss on the held-out tasks ({sweep.held_out_copies} "
        "views per test output) before the first step and after the last, the multiturn loss on every output grid "
        f"(lower is better); own loss: the mean training loss of its last {LAST_STEPS} steps (other samples per "
        "seed).", "",
        f"Trained on ({len(trained)}): {', '.join(sorted(t.id for t in trained))}", "",
        f"Held out ({len(held)}): {', '.join(sorted(t.id for t in held))}", "",
        *rows, ""])


def plot(results: list[dict[str, Any]], out: Path) -> None:
    """Held-out loss against trainer seconds, one labelled point per candidate, as a PNG (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for r in results:
        ax.scatter(r["trainer_seconds"], r["held_out_loss"], color="C3" if r["candidate"] == "shipped" else "C0")
        ax.annotate(r["candidate"], (r["trainer_seconds"], r["held_out_loss"]), textcoords="offset points",
                    xytext=(5, 3), fontsize=8)
    ax.set_xlabel("trainer seconds")
    ax.set_ylabel("held-out loss after training")
    ax.set_title("The prior's LoRA settings on a slice of train tasks (lower is better)", fontsize=10)
    fig.tight_layout()
    with atomic_open(out, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.prior_sweep", description=__doc__.split("\n\n")[1])
    ap.add_argument("--sweep", type=Path, default=SWEEP, help="the sweep file (default: the packaged one)")
    ap.add_argument("--only", help="comma list of candidates to run (default: all)")
    ap.add_argument("--work", type=Path, default=Path("experiments/work/prior_sweep"), help="work folder")
    ap.add_argument("--results", type=Path, default=Path("experiments/prior-sweep.md"), help="results Markdown")
    ap.add_argument("--root", type=Path, default=Path("."), help="repository root (recipes, models)")
    args = ap.parse_args(argv)

    def go() -> int:
        from arccommon.noise import silence_known_noise
        from recipes.check import load_recipe
        from recipes.prior import cpu_model

        silence_known_noise()
        sweep = load_sweep(args.sweep)
        names = [n.strip() for n in args.only.split(",")] if args.only else list(sweep.candidates)
        unknown = [n for n in names if n not in sweep.candidates]
        if unknown:
            raise UserError(f"--only: unknown candidate(s) {', '.join(unknown)}; known: {', '.join(sweep.candidates)}")
        recipe = load_recipe(args.root / sweep.recipe)
        train, held, trained, held_tasks = datasets(sweep, args.work, str(args.root / recipe["base_model"]))
        results = [run_candidate(sweep, recipe, n, train, held, args.work, args.root) for n in names]
        command = "python -m experiments.prior_sweep" + (f" --only {args.only}" if args.only else "")
        atomic_write_text(args.results, table(sweep, results, trained, held_tasks, command, cpu_model()))
        plot(results, args.results.with_suffix(".png"))
        print(f"wrote {args.results} and {args.results.with_suffix('.png').name} beside it")
        return 0

    return run_command(go, "interrupted; finished candidates are kept, the next run resumes the rest")


if __name__ == "__main__":
    sys.exit(main())
