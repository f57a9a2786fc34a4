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

from arcprep.atomic import atomic_write_text
from arcprep.build import manifest_path
from arcprep.recipe_check import load_recipe
from arcprep.spec import build_any, is_up_to_date
from arcprep.train import train
from experiments.plan import Plan, Run, dataset_configs


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
        return json.loads(record_path.read_text(encoding="utf-8"))
    recipe = root / recipe_for(plan, run)
    dataset = {**load_recipe(recipe)["datasets"][0], "path": str(data.resolve())}
    manifest = json.loads(manifest_path(data).read_text(encoding="utf-8"))
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
    state = json.loads((checkpoints[-1] / "trainer_state.json").read_text(encoding="utf-8"))
    logs = [e for e in state["log_history"] if "loss" in e]
    return {"steps": state["global_step"], "tokens_seen": logs[-1].get("tokens/total") if logs else None,
            "trainable_tokens_seen": logs[-1].get("tokens/trainable") if logs else None,
            "losses": [[e["step"], e["loss"]] for e in logs]}


def evaluate_run(plan: Plan, run: Run, split: str, work: Path, adapter: Path | None) -> dict[str, Any]:
    """Score ``run`` on the plan's tasks of ``split`` with evalkit (resumable); returns summary.json."""
    from evalkit.__main__ import cmd_predict

    out = run_dir(work, run) / f"eval-{split}"
    summary = out / "summary.json"
    if not summary.exists():
        print(f"[{run.name}] evaluating on {split} ({len(plan.tasks[split])} tasks)", flush=True)
        argv = ["--split", split, "--tasks", ",".join(plan.task_ids(split)), "--out", str(out),
                "--augmentations", str(plan.scale.augmentations), "--seed", str(plan.scale.seed),
                "--stop-past-truth"]
        argv += ["--adapter", str(adapter)] if adapter else ["--base", plan.scale.base_model]
        cmd_predict(argv)
    return json.loads(summary.read_text(encoding="utf-8"))


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
