"""Check a recipe, launch Axolotl on it, and record what evalkit needs beside the adapter.

``python -m arcprep train recipes/x.yml [--set key=value ...]`` runs
``accelerate launch [--cpu ...] -m axolotl.cli.train RECIPE`` after the checks pass.
CPU recipes (``*_cpu*.yml``) train in fp32 by default: Axolotl's own ``bf16: true`` is refused by transformers on a
CPU, and accelerate's bf16 autocast (``--mixed-precision bf16``) ran several times slower here for LoRA training.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from arcprep.atomic import atomic_write_text
from arcprep.build import manifest_path
from arcprep.errors import ArcPrepError
from arcprep.recipe_check import check_recipe, is_cpu_recipe, load_recipe

TRAINING_RECORD = "arcprep_training.json"


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``key=value`` strings -> dict, values parsed as YAML (numbers, booleans, lists)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ArcPrepError(f"--set {item!r}: expected key=value")
        out[key] = yaml.safe_load(value)
    return out


def launch_command(recipe: Path, cpu: bool, mixed_precision: str = "no") -> list[str]:
    """The accelerate command line that trains ``recipe`` (CPU recipes: one process, given mixed precision)."""
    device = ["--cpu", "--mixed_precision", mixed_precision, "--num_processes", "1"] if cpu else []
    return [sys.executable, "-m", "accelerate.commands.launch", *device, "-m", "axolotl.cli.train", str(recipe)]


def training_record(recipe_path: Path, recipe: dict[str, Any], root: Path) -> dict[str, Any]:
    """What evalkit needs to rebuild the exact prompts: encoding, system prompt, datasets' manifests."""
    datasets = []
    for ds in recipe.get("datasets") or []:
        mpath = manifest_path(root / ds["path"])
        manifest = json.loads(mpath.read_text(encoding="utf-8")) if mpath.exists() else {}
        datasets.append({"path": ds["path"], "name": manifest.get("name"), "encoding": manifest.get("encoding"),
                         "system_prompt": manifest.get("system_prompt"), "prompt_version": manifest.get("prompt_version"),
                         "task_ids": manifest.get("task_ids"), "samples": manifest.get("samples"),
                         "jsonl_sha256": manifest.get("jsonl_sha256")})
    return {"recipe": str(recipe_path), "config": recipe, "base_model": recipe.get("base_model"),
            "datasets": datasets}


def train(recipe_path: Path, overrides: dict[str, Any] | None = None, root: Path = Path("."),
          dry_run: bool = False, mixed_precision: str = "no") -> Path:
    """Check, then train ``recipe_path`` with Axolotl; returns the output folder (adapter + training record)."""
    overrides = overrides or {}
    problems = check_recipe(recipe_path, root=root, for_training=True, overrides=overrides)
    if problems:
        raise ArcPrepError("\n".join(f"{recipe_path}: {p}" for p in problems))
    recipe = {**load_recipe(recipe_path), **overrides}
    out_dir = root / recipe["output_dir"]
    out_dir.mkdir(parents=True, exist_ok=True)
    launched = recipe_path
    if overrides:  # Axolotl reads one YAML: write the merged recipe beside the outputs
        launched = out_dir / "recipe.yml"
        atomic_write_text(launched, yaml.safe_dump(recipe, sort_keys=False))
    record = training_record(recipe_path, recipe, root)
    atomic_write_text(out_dir / TRAINING_RECORD, json.dumps(record, indent=2) + "\n")
    cmd = launch_command(launched, is_cpu_recipe(recipe_path), mixed_precision)
    print(" ".join(cmd[1:]), file=sys.stderr)
    if dry_run:
        return out_dir
    env = {**os.environ, "AXOLOTL_DO_NOT_TRACK": "1"}
    result = subprocess.run(cmd, cwd=root, env=env)
    if result.returncode != 0:
        raise ArcPrepError(f"{recipe_path}: Axolotl exited with status {result.returncode} (its log is above)")
    return out_dir
