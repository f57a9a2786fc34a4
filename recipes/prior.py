"""The broad priors: train each once, ship it under models/ like the embedded model, and tell, in one line, when a
shipped adapter is missing or no longer matches its recipe and dataset.

:data:`PRIORS` names them: ``prior`` (recipes/smollm2_cpu_prior.yml, the first pass over every ARC-1 train task) and
``prior2`` (recipes/smollm2_cpu_prior2.yml, a second pass over fresh views that continues the shipped ``prior``).
``python -m recipes prior [--name prior2]`` (= ``make prior`` / ``make prior2``) trains or resumes the recipe, then
:func:`ship` copies the final adapter into the prior's folder with ``manifest.json`` (the recipe and the sha256 of its
settings, the dataset manifest's sha256, the manifest of the prior it continues, steps, tokens seen, trainer seconds,
the CPU, first and final loss) and ``loss.png``. :func:`prior_problem` compares that manifest with the recipe file,
the dataset manifest a fresh ``make data`` builds (data/spec.yml) and the prior it continues: the same bytes, or
the prior is stale.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arccommon.errors import UserError
from arccommon.files import atomic_open, atomic_write_text, read_json, sha256_file
from arccommon.paths import ADAPTER_WEIGHTS, PRIOR_DIR, PRIOR_DIRS
from arcprep.writer import manifest_path
from recipes.check import load_recipe
from recipes.launch import RESUME_LINE

PRIOR_RECIPE = Path("recipes/smollm2_cpu_prior.yml")


@dataclass(frozen=True)
class Prior:
    """A shipped prior: its name (the make target and the matrix's ``adapter:``), recipe and folder."""

    name: str
    recipe: Path
    dest: Path


PRIOR_RECIPES = {"prior": PRIOR_RECIPE, "prior2": Path("recipes/smollm2_cpu_prior2.yml")}
PRIORS = {name: Prior(name, PRIOR_RECIPES[name], dest) for name, dest in PRIOR_DIRS.items()}
MANIFEST = "manifest.json"
# What evalkit needs of an adapter folder: weights, config, the training record (prompt format) and the tokenizer.
SHIPPED_FILES = (ADAPTER_WEIGHTS, "adapter_config.json", "arcprep_training.json", "tokenizer.json",
                 "tokenizer_config.json", "chat_template.jinja")
MAX_ADAPTER_BYTES = 40 << 20
TRAINER_DICT = re.compile(r"\{'(?:loss|train_runtime)'.*\}")
NUMBER = re.compile(r"[-+0-9.e]+")
CPU_LINE = re.compile(r"^\[cpu_precision\] precision: .*$", re.MULTILINE)


def recipe_sha256(path: Path) -> str:
    """sha256 of a recipe's settings (its YAML as canonical JSON): a changed key or value changes it, a comment
    does not."""
    return hashlib.sha256(json.dumps(load_recipe(path), sort_keys=True).encode()).hexdigest()


def dataset_manifest(recipe: dict[str, Any], root: Path) -> Path:
    """The manifest of the (single) dataset a prior recipe trains on."""
    return manifest_path(root / recipe["datasets"][0]["path"])


def read_log(log: Path) -> tuple[list[tuple[int, float]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(loss per optimizer step, the step dicts, the end-of-training dicts) the Trainer printed into ``log``, over
    every sitting: after Axolotl's resume line the count restarts at the checkpoint's step, so a step redone after
    an interruption keeps its last value."""
    text = log.read_text(encoding="utf-8", errors="replace").replace("\r", "\n") if log.exists() else ""
    by_step: dict[int, float] = {}
    steps, ends = [], []
    step = 0
    for line in text.splitlines():
        resumed = RESUME_LINE.search(line.encode())
        if resumed:
            step = int(resumed.group(1))
            continue
        if not TRAINER_DICT.fullmatch(line.strip()):
            continue
        try:
            d = {k: float(v) if isinstance(v, str) and NUMBER.fullmatch(v) else v
                 for k, v in literal_dict(line.strip()).items()}
        except (ValueError, SyntaxError):
            continue
        if "loss" in d:
            step += 1
            by_step[step] = float(d["loss"])
            steps.append(d)
        elif "train_runtime" in d:
            ends.append(d)
    return sorted(by_step.items()), steps, ends


def literal_dict(text: str) -> dict[str, Any]:
    """A dict literal as the Trainer prints it (strings, numbers), read without eval."""
    value = ast.literal_eval(text)
    if not isinstance(value, dict):
        raise ValueError(text[:40])
    return value


def cpu_model() -> str:
    """This machine's CPU model name and bf16 flags (from /proc/cpuinfo)."""
    from arccommon.precision import CPUINFO, cpu_bf16_flags

    try:
        text = CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "unknown CPU"
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")),
                "unknown CPU")
    return f"{name} ({'/'.join(cpu_bf16_flags()) or 'no bf16 flags'})"


def build_manifest(out_dir: Path, recipe_path: Path, root: Path) -> dict[str, Any]:
    """What the shipped prior records about its training, read from ``out_dir`` (Axolotl's output and log)."""
    recipe = load_recipe(root / recipe_path)
    curve, steps, ends = read_log(out_dir / "train.log")
    if not curve:
        raise UserError(f"{out_dir / 'train.log'}: no training steps logged; train with `make prior` first")
    if not ends:
        raise UserError(f"{out_dir / 'train.log'}: training has not finished (no train_runtime); resume with "
                        "`make prior`")
    log_text = (out_dir / "train.log").read_text(encoding="utf-8", errors="replace")
    precision = CPU_LINE.findall(log_text)
    data_manifest = dataset_manifest(recipe, root)
    return {
        "recipe": str(recipe_path), "recipe_sha256": recipe_sha256(root / recipe_path),
        "dataset": recipe["datasets"][0]["path"], "dataset_manifest_sha256": sha256_file(data_manifest),
        "dataset_sha256": read_json(data_manifest).get("jsonl_sha256"),
        "tasks": len(read_json(data_manifest).get("task_ids") or []), "samples": read_json(data_manifest).get("samples"),
        "base_model": recipe["base_model"], **continued(recipe, root), "steps": curve[-1][0],
        "tokens_seen": int(steps[-1].get("num_input_tokens_seen") or steps[-1].get("tokens/total") or 0),
        "trainer_seconds": round(float(ends[-1]["train_runtime"]), 1),
        "sittings": log_text.count("Maximum number of steps set at"),
        "cpu": cpu_model(),
        "precision": precision[-1].removeprefix("[cpu_precision] precision: ") if precision else None,
        "first_loss": curve[0][1], "final_loss": curve[-1][1],
        "first_loss_mean_first_20": mean_loss(curve[:20]), "final_loss_mean_last_20": mean_loss(curve[-20:]),
    }


def parent_of(recipe: dict[str, Any]) -> Prior | None:
    """The shipped prior a recipe continues (its ``lora_model_dir``), or None."""
    start = recipe.get("lora_model_dir")
    return next((p for p in PRIORS.values() if start and Path(start) == p.dest), None)


def continued(recipe: dict[str, Any], root: Path) -> dict[str, Any]:
    """The manifest fields naming the shipped prior this recipe continues and its manifest's sha256 (none: {})."""
    parent = parent_of(recipe)
    if parent is None:
        return {}
    return {"continues": str(parent.dest), "continues_manifest_sha256": sha256_file(root / parent.dest / MANIFEST)}


def mean_loss(curve: list[tuple[int, float]]) -> float:
    """The mean loss of these (step, loss) points, to 4 places."""
    return round(sum(v for _, v in curve) / len(curve), 4)


def plot_loss(curve: list[tuple[int, float]], out: Path, title: str) -> None:
    """The loss per step and its 20-step moving mean, as a PNG (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps, losses = zip(*curve)
    window = [sum(losses[max(0, i - 19):i + 1]) / len(losses[max(0, i - 19):i + 1]) for i in range(len(losses))]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(steps, losses, lw=0.6, alpha=0.5, label="loss per step")
    ax.plot(steps, window, lw=1.6, label="mean of 20 steps")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss")
    ax.set_title(title, fontsize=10)
    ax.legend()
    fig.tight_layout()
    with atomic_open(out, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)


def ship(out_dir: Path, recipe_path: Path = PRIOR_RECIPE, dest: Path = PRIOR_DIR, root: Path = Path(".")) -> dict:
    """Copy the finished adapter of ``out_dir`` to ``dest`` with its manifest and loss curve; returns the manifest.
    Written into a sibling folder first, then renamed, so ``dest`` is never half there."""
    missing = [name for name in SHIPPED_FILES if not (out_dir / name).exists()]
    if missing:
        raise UserError(f"{out_dir}: no finished adapter ({', '.join(missing)} missing); run `make prior`")
    size = (out_dir / ADAPTER_WEIGHTS).stat().st_size
    if size > MAX_ADAPTER_BYTES:
        raise UserError(f"{out_dir / ADAPTER_WEIGHTS}: {size / 2**20:.1f} MiB, over the "
                        f"{MAX_ADAPTER_BYTES >> 20} MiB a shipped prior may hold (lower lora_r)")
    manifest = build_manifest(out_dir, recipe_path, root)
    staging = (root / dest).with_name(f".{dest.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in SHIPPED_FILES:
        shutil.copyfile(out_dir / name, staging / name)
    atomic_write_text(staging / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    plot_loss(read_log(out_dir / "train.log")[0], staging / "loss.png",
              f"{dest.name}: {manifest['steps']} steps, {manifest['tokens_seen']:,} tokens")
    final = root / dest
    if final.exists():
        old = final.with_name(f".{dest.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
        staging.rename(final)
        shutil.rmtree(old)
    else:
        staging.rename(final)
    return manifest


def prior_problem(dest: Path = PRIOR_DIR, root: Path = Path(".")) -> str | None:
    """None when the shipped prior matches its recipe, its dataset manifest and the prior it continues; else one
    line saying what is wrong."""
    folder = root / dest
    make = next((f"make {p.name}" for p in PRIORS.values() if p.dest == dest), "make prior")
    retrain = f"retrain with `{make}`"
    if not (folder / MANIFEST).exists() or not (folder / ADAPTER_WEIGHTS).exists():
        return f"{dest}: no shipped prior here; train it with `{make}`"
    manifest = read_json(folder / MANIFEST)
    recipe_path = root / manifest.get("recipe", str(PRIOR_RECIPE))
    if not recipe_path.exists():
        return f"{dest}: stale: its recipe {manifest.get('recipe')} is gone; {retrain}"
    if recipe_sha256(recipe_path) != manifest.get("recipe_sha256"):
        return f"{dest}: stale: {manifest['recipe']} changed since the prior was trained; {retrain}"
    data_manifest = dataset_manifest(load_recipe(recipe_path), root)
    if not data_manifest.exists():
        return f"{dest}: cannot check: {data_manifest} is not built (run `make data`)"
    if sha256_file(data_manifest) != manifest.get("dataset_manifest_sha256"):
        return (f"{dest}: stale: {data_manifest} (data/spec.yml) no longer matches the data the prior was trained "
                f"on; {retrain}")
    parent = parent_of(load_recipe(recipe_path))
    if parent is not None:
        upstream = prior_problem(parent.dest, root)
        if upstream:
            return upstream
        if sha256_file(root / parent.dest / MANIFEST) != manifest.get("continues_manifest_sha256"):
            return f"{dest}: stale: it continues {parent.dest}, which was retrained since; {retrain}"
    return None


def require_prior(dest: Path = PRIOR_DIR, root: Path = Path(".")) -> Path:
    """``dest`` when the shipped prior is fresh; else a one-line UserError."""
    problem = prior_problem(dest, root)
    if problem:
        raise UserError(problem)
    return dest
