"""Carry out a plan: build its datasets, train each run with its recipe, evaluate it; skip what is finished.

Layout under the work folder: ``data/NAME.jsonl`` (+ manifests), ``runs/RUN/adapter`` (Axolotl's output),
``runs/RUN/train.json`` (written when training finished: steps, tokens, wall time, losses),
``runs/RUN/eval-SPLIT/`` (evalkit's output). A finished step is never redone; an interrupted training resumes
from its last checkpoint (Axolotl's auto_resume_from_checkpoints) and an interrupted evaluation from its last task.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from arccommon.files import atomic_write_text, read_json
from arcprep.spec import build_any, is_up_to_date
from arcprep.writer import read_manifest
from experiments.plan import Plan, Run, dataset_configs
from recipes.check import load_recipe
from recipes.launch import train


def build_datasets(plan: Plan, work: Path) -> dict[str, Path]:
    """Build (or reuse, when up to date) every dataset the plan trains on."""
    paths = {}
    for name, cfg in dataset_configs(plan, plan.scale.base_model).items():
        out = work / "data" / f"{name}.jsonl"
        if not is_up_to_date(cfg, out):
            manifest = build_any(cfg, out)
            print(f"built {out}: {manifest['samples']} samples", flush=True)
        paths[name] = out
    return paths


def recipe_for(plan: Plan, run: Run) -> str:
    if run.train == "count":
        return plan.recipes["count"]
    return plan.recipes["count_then_arc" if run.after else "arc"]


def run_dir(work: Path, run: Run | str) -> Path:
    return work / "runs" / (run if isinstance(run, str) else run.name)


def train_run(plan: Plan, run: Run, data: Path, work: Path, root: Path) -> dict[str, Any]:
    """Train ``run`` (or load its record if finished) and return its train.json record."""
    folder = run_dir(work, run)
    record_path = folder / "train.json"
    if record_path.exists():
        return read_json(record_path)
    recipe = root / recipe_for(plan, run)
    dataset = {**load_recipe(recipe)["datasets"][0], "path": str(data.resolve())}
    manifest = read_manifest(data) or {}
    longest = (manifest.get("tokens") or {}).get("max", 1024)
    steps = plan.scale.steps
    overrides: dict[str, Any] = {
        **plan.scale.overrides,
        "base_model": str((root / plan.scale.base_model).resolve()) if (root / plan.scale.base_model).exists()
        else plan.scale.base_model,
        "datasets": [dataset], "output_dir": str((folder / "adapter").resolve()),
        "dataset_prepared_path": str((folder / "prepared").resolve()),
        "sequence_len": max(1024, -(-longest // 64) * 64), "max_steps": steps, "save_steps": steps,
        "seed": plan.scale.seed,
    }
    if run.after:
        overrides["lora_model_dir"] = str((run_dir(work, run.after) / "adapter").resolve())
    print(f"[{run.name}] training {recipe.relative_to(root)} on {data.name}: {steps} steps", flush=True)
    start = time.perf_counter()
    adapter = train(recipe, overrides, root=root)
    wall = time.perf_counter() - start
    record = {"run": run.name, "recipe": str(recipe.relative_to(root)), "dataset": data.name,
              "after": run.after, "samples": manifest["samples"], "tasks": manifest.get("tasks"),
              "wall_s": wall, **training_log(adapter)}
    atomic_write_text(record_path, json.dumps(record, indent=2) + "\n")
    return record


def training_log(adapter: Path) -> dict[str, Any]:
    """Steps, tokens seen and the loss curve from the last checkpoint's trainer_state.json."""
    checkpoints = sorted(adapter.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    if not checkpoints:
        return {"steps": None, "tokens_seen": None, "losses": []}
    state = read_json(checkpoints[-1] / "trainer_state.json")
    logs = [e for e in state["log_history"] if "loss" in e]
    return {"steps": state["global_step"], "tokens_seen": logs[-1].get("tokens/total") if logs else None,
            "trainable_tokens_seen": logs[-1].get("tokens/trainable") if logs else None,
            "losses": [[e["step"], e["loss"]] for e in logs]}


def evaluate_run(plan: Plan, run: Run, split: str, work: Path, adapter: Path | None) -> dict[str, Any]:
    """Score ``run`` on the plan's tasks of ``split`` with evalkit (resumable); returns summary.json."""
    from evalkit.evaluator import EvalRequest, evaluate_split

    out = run_dir(work, run) / f"eval-{split}"
    summary = out / "summary.json"
    if summary.exists():
        return read_json(summary)
    print(f"[{run.name}] evaluating on {split} ({len(plan.tasks[split])} tasks)", flush=True)
    request = EvalRequest(split=split, adapter=adapter, base=None if adapter else plan.scale.base_model,
                          tasks=plan.task_ids(split), augmentations=plan.scale.augmentations, seed=plan.scale.seed,
                          out=out)
    return evaluate_split(request)[0]


def carry_out(plan: Plan, work: Path, root: Path) -> dict[str, dict[str, Any]]:
    """Every run of the plan, in order: {run: {"train": record | None, "eval": {split: summary}}}."""
    data = build_datasets(plan, work)
    results: dict[str, dict[str, Any]] = {}
    for run in plan.runs:
        record = train_run(plan, run, data[run.train], work, root) if run.train else None
        adapter = run_dir(work, run) / "adapter" if run.train else None
        results[run.name] = {"train": record, "eval": {
            split: evaluate_run(plan, run, split, work, adapter) for split in run.evaluate}}
    return results
