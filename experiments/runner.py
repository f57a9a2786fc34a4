"""Carry out a plan: build its datasets, train each run with its recipe, evaluate it; skip what is finished.

Layout under the work folder: ``data/NAME.jsonl`` (+ manifests), ``runs/RUN/adapter`` (Axolotl's output),
``runs/RUN/train.json`` (written when training finished: steps, tokens, wall time, losses),
``runs/RUN/eval-SPLIT/`` (evalkit's output); a per-task test-time-training run keeps one adapter per task in
``runs/RUN/adapters/TASK/adapter`` (and ``train.json`` beside it when finished). A finished step is never
redone; an interrupted training resumes from its last checkpoint (Axolotl's auto_resume_from_checkpoints) and an
interrupted evaluation from its last task.

Under ``accelerate launch --num_processes N`` (evalkit/shards.py) the first process builds the datasets and trains
each run (on every GPU, or on the whole CPU) while the others wait; per-task adapters are trained and every
evaluation is predicted shard by shard; the first process writes the records. All processes pass each step
together, so each sees the same finished files.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from arccommon.cli import verbose
from arccommon.errors import UserError
from arccommon.files import atomic_write_text, read_json
from arcprep.spec import build_any, is_up_to_date
from arcprep.tasks import Task
from arcprep.writer import read_manifest
from evalkit.shards import Shard
from experiments.plan import Plan, Run, dataset_configs, samples_per_step, training_steps
from recipes.check import is_cpu_recipe, load_recipe
from recipes.in_process import FAILED_PREFIX
from recipes.launch import prepare, show_log_tail, train
from recipes.record import training_log


def build_datasets(plan: Plan, work: Path, build: bool = True) -> dict[str, Path]:
    """Build (or reuse, when up to date) every dataset the plan trains on; only their paths when not ``build``."""
    paths = {}
    for name, cfg in dataset_configs(plan).items():
        out = work / "data" / f"{name}.jsonl"
        if build and not is_up_to_date(cfg, out):
            manifest = build_any(cfg, out)
            print(f"built {out}: {manifest['samples']} samples", flush=True)
        paths[name] = out
    return paths


def is_ttt(run: Run) -> bool:
    """A test-time-training run: it trains on leave-one-out samples of the tasks it is scored on."""
    return bool(run.train and run.train.startswith("ttt_"))


def recipe_for(plan: Plan, run: Run) -> str:
    if run.train == "count":
        return plan.recipes["count"]
    if is_ttt(run):
        return plan.recipes["ttt"]
    return plan.recipes["count_then_arc" if run.after else "arc"]


def run_dir(work: Path, run: Run | str) -> Path:
    return work / "runs" / (run if isinstance(run, str) else run.name)


def adapter_of(plan: Plan, work: Path, name: str | None, root: Path = Path(".")) -> Path | None:
    """The adapter run ``name`` leaves: the shipped one it names (checked: missing or stale is one UserError),
    or the one it trained; None for the base model."""
    if name is None:
        return None
    run = next(r for r in plan.runs if r.name == name)
    if run.adapter:
        from recipes.prior import PRIORS, require_prior

        return (root / require_prior(PRIORS[run.adapter].dest, root)).resolve()
    return run_dir(work, run) / "adapter" if run.train else None


def shipped_record(run: Run, root: Path) -> dict[str, Any]:
    """A shipped adapter's training, from its manifest, in the shape of a train.json record."""
    from recipes.prior import MANIFEST, PRIORS

    dest = PRIORS[run.adapter].dest
    m = read_json(root / dest / MANIFEST)
    return {"run": run.name, "recipe": m["recipe"], "dataset": Path(m["dataset"]).name, "tasks": m.get("tasks"),
            "samples": m.get("samples"), "steps": m["steps"], "tokens_seen": m["tokens_seen"],
            "wall_s": m["trainer_seconds"], "losses": [[1, m["first_loss_mean_first_20"]], [m["steps"], m["final_loss_mean_last_20"]]],
            "shipped": str(dest), **({"after": next(n for n, d in PRIORS.items() if str(d.dest) == m["continues"])}
                                                  if m.get("continues") else {})}


def per_task_ttt(plan: Plan, run: Run) -> bool:
    return is_ttt(run) and plan.scale.ttt_mode == "per_task"


def _overrides(plan: Plan, spec: dict[str, Any], data: Path, folder: Path, steps: int, start_from: Path | None,
               root: Path, ttt: bool) -> dict[str, Any]:
    """The recipe keys an experiment sets on recipe ``spec``: the scale's (and for test-time training its
    ``ttt_overrides``), base model, data (the recipe's own dataset settings with the new path), output folders,
    steps, sequence length, seed."""
    dataset = {**spec["datasets"][0], "path": str(data.resolve())}
    longest = ((read_manifest(data) or {}).get("tokens") or {}).get("max", 1024)
    overrides: dict[str, Any] = {
        **plan.scale.recipe_overrides(ttt),
        "base_model": str((root / plan.scale.base_model).resolve()) if (root / plan.scale.base_model).exists()
        else plan.scale.base_model,
        "datasets": [dataset], "output_dir": str((folder / "adapter").resolve()),
        "dataset_prepared_path": str((folder / "prepared").resolve()),
        "sequence_len": max(1024, -(-longest // 64) * 64), "max_steps": steps, "save_steps": steps,
        "seed": plan.scale.seed,
    }
    if start_from is not None:
        overrides["lora_model_dir"] = str(start_from.resolve())
    return overrides


def _train_adapter(plan: Plan, recipe: Path, data: Path, folder: Path, steps: int, start_from: Path | None,
                   root: Path, shard: Shard, whole_machine: bool, ttt: bool) -> Path:
    """One Axolotl training of ``recipe`` on ``data`` into ``folder``/adapter in a new launch (resumes from its
    checkpoints)."""
    spec = load_recipe(recipe)
    overrides = _overrides(plan, spec, data, folder, steps, start_from, root, ttt)
    # on every GPU when the whole machine is this training's; a CPU recipe trains in one process (CPU_DDP_REFUSED)
    processes = shard.count if whole_machine and not is_cpu_recipe({**spec, **overrides}) else 1
    log = None if verbose() else folder / "train.log"
    if log is not None:
        print(f"[{folder.name}] Axolotl's output: {log}", flush=True)
    return train(recipe, overrides, root=root, processes=processes, env=shard.training_env(whole_machine), log=log,
                 label=f"[{folder.name}] training")


def train_run(plan: Plan, run: Run, data: Path, work: Path, root: Path, shard: Shard | None = None) -> dict[str, Any]:
    """Train ``run`` (or load its record if finished) and return its train.json record."""
    shard = shard or Shard()
    folder = run_dir(work, run)
    record_path = folder / "train.json"
    if record_path.exists():
        return read_json(record_path)
    recipe = root / recipe_for(plan, run)
    manifest = read_manifest(data) or {}
    steps = training_steps(plan.scale, load_recipe(recipe), manifest.get("samples", 0), is_ttt(run))
    start_from = adapter_of(plan, work, run.after, root)
    s = plan.scale
    if per_task_ttt(plan, run):
        dose = f"{s.ttt_steps} steps per task" if s.ttt_steps else f"{s.ttt_epochs:g} epoch(s) per task"
    else:
        dose = f"{steps} steps" + (f", {s.ttt_mode}" if is_ttt(run) else "")
    if shard.is_main:
        print(f"[{run.name}] training {recipe.relative_to(root)} on {data.name}: {dose}", flush=True)
    start = time.perf_counter()
    if per_task_ttt(plan, run):
        log = _train_per_task(plan, run, recipe, work, start_from, root, shard)
    else:
        if shard.is_main:
            _train_adapter(plan, recipe, data, folder, steps, start_from, root, shard, whole_machine=True,
                           ttt=is_ttt(run))
        shard.barrier()
        log = training_log(folder / "adapter")
    record = {"run": run.name, "recipe": str(recipe.relative_to(root)), "dataset": data.name,
              "after": run.after, "samples": manifest["samples"], "tasks": manifest.get("tasks"),
              "ttt_mode": plan.scale.ttt_mode if is_ttt(run) else None, "wall_s": time.perf_counter() - start, **log}
    if shard.is_main:
        atomic_write_text(record_path, json.dumps(record, indent=2) + "\n")
    shard.barrier()
    return record


def _train_per_task(plan: Plan, run: Run, recipe: Path, work: Path, start_from: Path | None, root: Path,
                    shard: Shard) -> dict[str, Any]:
    """One adapter per task under runs/RUN/adapters/TASK, each trained on that task's own leave-one-out samples
    for the scale's ``ttt_epochs``, each process its share of the tasks. With ``ttt_process: one`` (default) a
    process trains all of its tasks in one Python process (recipes/in_process.py), else one launch per task.
    Tasks with one demonstration pair get none (evaluation uses the starting adapter for them). The loss curve
    returned is the mean over tasks at each step."""
    cfg, spec = dataset_configs(plan)[run.train], load_recipe(recipe)
    tasks = [t for t in plan.tasks[run.train.removeprefix("ttt_")] if len(t.train) >= 2]  # ttt_SPLIT: SPLIT's
    folders = {t.id: run_dir(work, run) / "adapters" / t.id for t in tasks}
    jobs = []
    for task in shard.deal(tasks, ttt_cost):  # balanced: one task's dose can be 3x another's
        folder = folders[task.id]
        if (folder / "train.json").exists():
            continue
        t0 = time.perf_counter()
        data = folder / "ttt.jsonl"
        one = replace(cfg, tasks=[task.id])
        if not is_up_to_date(one, data):
            build_any(one, data, progress=False)
        samples = (read_manifest(data) or {})["samples"]
        steps = training_steps(plan.scale, spec, samples, True)
        overrides = _overrides(plan, spec, data, folder, steps, start_from, root, ttt=True)
        extra = {"task": task.id, "process": shard.index, "samples": samples, "prepare_s": 0.0}
        if plan.scale.ttt_process == "one":
            job = prepare(recipe, overrides, root=root, quiet=True)
            extra["prepare_s"] = time.perf_counter() - t0
            jobs.append({"name": f"[{run.name}] {task.id}", "recipe": str(job.launched.resolve()),
                         "record": str((folder / "train.json").resolve()), "extra": extra, "env": job.env,
                         "on_cpu": job.on_cpu})
            continue
        print(f"[{run.name}] {task.id}: {steps} steps{shard.label()}", flush=True)
        adapter = train(recipe, overrides, root=root, env=shard.training_env(False))
        done = {**extra, "wall_s": time.perf_counter() - t0, **training_log(adapter)}
        atomic_write_text(folder / "train.json", json.dumps(done, indent=2) + "\n")
    if jobs:
        sizes = sorted(job["extra"]["samples"] for job in jobs)
        span = f"{sizes[0]}" if sizes[0] == sizes[-1] else f"{sizes[0]}-{sizes[-1]}"
        print(f"[{run.name}] {len(jobs)} task adapters in one process, {span} samples each{shard.label()}",
              flush=True)
        train_in_process(jobs, run_dir(work, run) / "adapters" / f"jobs-{shard.index}.json", root,
                         shard.training_env(False))
    shard.barrier()
    logs = [read_json(folder / "train.json") for folder in folders.values()]
    by_step: dict[int, list[float]] = {}
    for log in logs:
        for step, loss in log["losses"]:
            by_step.setdefault(step, []).append(loss)
    return {"steps": max((log["steps"] or 0 for log in logs), default=0),
            "tokens_seen": sum(log["tokens_seen"] or 0 for log in logs),
            "trainable_tokens_seen": sum(log["trainable_tokens_seen"] or 0 for log in logs),
            "losses": [[step, sum(v) / len(v)] for step, v in sorted(by_step.items())],
            "adapters": len(logs), "task_wall_s": {log["task"]: log["wall_s"] for log in logs},
            "task_train_s": {log["task"]: log.get("train_s") for log in logs},
            "task_final_loss": {log["task"]: log["losses"][-1][1] if log["losses"] else None for log in logs},
            "task_first_loss": {log["task"]: log["losses"][0][1] if log["losses"] else None for log in logs},
            "task_samples": {log["task"]: log.get("samples") for log in logs},
            "overhead": overhead_share(logs),
            "startup_s": [log["process_startup_s"] for log in logs if "process_startup_s" in log]}


def ttt_cost(task: Task) -> float:
    """A task's test-time-training cost before its data exists: its samples grow with its demonstration pairs and
    each sample's tokens with its grid cells."""
    return len(task.train) * task.cells(with_test=False)


def overhead_share(logs: list[dict[str, Any]]) -> float | None:
    """The share of per-task training time spent outside the Trainer's own loop: (sum(prepare_s + wall_s) -
    sum(train_s)) / sum(prepare_s + wall_s), or None when the records lack train_s (trained one launch per task)."""
    if not logs or any(log.get("train_s") is None for log in logs):
        return None
    wall = sum(log["wall_s"] + log.get("prepare_s", 0.0) for log in logs)
    return (wall - sum(log["train_s"] for log in logs)) / wall if wall else None


def train_in_process(jobs: list[dict[str, Any]], jobs_file: Path, root: Path, env: dict[str, str]) -> None:
    """Run ``jobs`` in one ``python -m recipes.in_process`` process with ``env`` (CPU recipes: accelerate's CPU
    settings, as ``accelerate launch --cpu`` sets them); Axolotl's output goes to a log beside ``jobs_file``, one
    line per task to the console; a failing task is one UserError naming it and the log."""
    atomic_write_text(jobs_file, json.dumps(jobs, indent=2) + "\n")
    log = jobs_file.with_suffix(".log")
    env = {**env, **jobs[0]["env"]}
    if jobs[0]["on_cpu"]:
        env.update({"ACCELERATE_USE_CPU": "true", "CUDA_VISIBLE_DEVICES": ""})
    failed = []
    with subprocess.Popen([sys.executable, "-m", "recipes.in_process", str(jobs_file), "--log", str(log)],
                          cwd=root, env=env, stdout=subprocess.PIPE, text=True) as proc:
        for line in proc.stdout or []:  # one line per finished task, as it finishes
            if line.startswith(FAILED_PREFIX):
                failed.append(line.strip())
            else:
                print(line, end="", flush=True)
    if proc.returncode != 0:
        show_log_tail(log)
        reason = failed[-1].removeprefix(FAILED_PREFIX) if failed else f"exited with status {proc.returncode}"
        raise UserError(f"per-task training: {reason}; log: {log} (finished tasks are kept; the same command "
                        f"resumes)")


def evaluate_run(plan: Plan, run: Run, split: str, work: Path, adapter: Path | None,
                 per_task: Path | None = None, shard: Shard | None = None) -> dict[str, Any] | None:
    """Score ``run`` on the plan's tasks of ``split`` with evalkit (resumable, sharded under a launch); returns
    summary.json (None in a process other than the first of a launch)."""
    from evalkit.evaluator import EvalRequest, evaluate_split

    shard = shard or Shard()
    out = run_dir(work, run) / f"eval-{split}"
    summary = out / "summary.json"
    if summary.exists():
        return read_json(summary)
    if shard.is_main:
        print(f"[{run.name}] evaluating on {split} ({len(plan.tasks[split])} tasks)", flush=True)
    request = EvalRequest(split=split, adapter=adapter, base=None if adapter else plan.scale.base_model,
                          tasks=plan.task_ids(split), augmentations=plan.scale.augmentations, seed=plan.scale.seed,
                          out=out, adapter_per_task=per_task)
    result = evaluate_split(request)[0]
    shard.barrier()  # the first process has written the merged files
    return result


def describe(plan: Plan, work: Path, root: Path) -> str:
    """The plan's size without training: per run its data (tasks, samples, tokens), steps and the tokens its
    training processes, and per evaluation its prompts (tasks x test inputs x views). Builds the datasets."""
    data = build_datasets(plan, work)
    head = ["run", "recipe", "dataset", "tasks", "samples", "tokens", "steps", "samples/step", "tokens trained",
            "evaluated on (tasks, prompts)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    total = 0

    def prompts(split: str) -> int:
        return sum(len(t.test) for t in plan.tasks[split]) * plan.scale.augmentations

    for run in plan.runs:
        evals = ", ".join(f"{s} ({len(plan.tasks[s])}, {prompts(s)})" for s in run.evaluate)
        if not run.train:
            what = f"(shipped {run.adapter}: make {run.adapter})" if run.adapter else "(base model)"
            lines.append(f"| {run.name} | {what} | | | | | | | | {evals} |")
            continue
        recipe = load_recipe(root / recipe_for(plan, run))
        manifest = read_manifest(data[run.train]) or {}
        tokens = (manifest.get("tokens") or {}).get("total", 0)
        samples = manifest.get("samples", 0)
        steps = training_steps(plan.scale, recipe, samples, is_ttt(run))
        per_step = samples_per_step(plan.scale, recipe, is_ttt(run))
        trained = round(steps * per_step * tokens / max(samples, 1))
        total += trained
        lines.append(f"| {run.name} | {recipe_for(plan, run)} | {run.train} | {manifest.get('tasks') or ''} | "
                     f"{samples:,} | {tokens:,} | {steps:,} | {per_step} | {trained:,} | {evals} |")
    return "\n".join(lines + ["", f"tokens trained, all runs: {total:,} (steps x samples/step x mean sample tokens)"])


def task_outcomes(eval_dir: Path) -> tuple[dict[str, float], dict[str, float]]:
    """({task id: score}, {task id: share of its test outputs in the right shape}) of one finished evaluation,
    read once from its per-task files."""
    from evalkit.run import finished_tasks
    from evalkit.scoring import shape_accuracy

    records = {tid: r["score_record"] for tid, r in finished_tasks(eval_dir).items() if r.get("score_record")}
    return ({tid: r["score"] for tid, r in records.items()},
            {tid: shape_accuracy([r]) for tid, r in records.items()})


def carry_out(plan: Plan, work: Path, root: Path, shard: Shard | None = None) -> dict[str, dict[str, Any]]:
    """Every run of the plan, in order: {run: {"train": record | None, "eval": {split: summary}}}. With a
    ``shard`` of several processes, the whole results reach the first process only."""
    shard = shard or Shard()
    data = build_datasets(plan, work, build=shard.is_main)
    shard.barrier()
    results: dict[str, dict[str, Any]] = {}
    for run in plan.runs:
        record = train_run(plan, run, data[run.train], work, root, shard) if run.train else None
        if run.adapter:
            record = shipped_record(run, root)
        adapter, per_task = adapter_of(plan, work, run.name, root), None
        if per_task_ttt(plan, run):  # each task its own adapter; a task without one uses the starting adapter
            adapter = adapter_of(plan, work, run.after, root)
            per_task = run_dir(work, run) / "adapters"
        results[run.name] = {"train": record, "eval": {
            split: evaluate_run(plan, run, split, work, adapter, per_task, shard) for split in run.evaluate},
            "task_outcomes": {split: task_outcomes(run_dir(work, run) / f"eval-{split}") for split in run.evaluate}}
    return results
