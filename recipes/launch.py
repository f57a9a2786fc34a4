"""Check a recipe, launch Axolotl on it, and record what evalkit needs beside the adapter.

``python -m recipes train recipes/x.yml [--set key=value ...]`` runs
``accelerate launch [--cpu ...] -m axolotl.cli.train RECIPE`` after the checks pass. A recipe with
``train_device: cpu`` launches on the CPU at the precision :func:`arccommon.precision.decide_precision` picks for
this machine, applied inside Axolotl by :mod:`recipes.cpu_precision` (which CPU recipes list as a plugin);
GPU recipes keep their own ``bf16`` settings.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from arccommon.errors import UserError
from arccommon.files import atomic_write_text
from arccommon.precision import decide_precision
from recipes import CPU_PRECISION_ENV
from recipes.check import check_recipe, is_cpu_recipe, load_recipe
from recipes.record import training_record, write_training_record

MIXED_PRECISION = {"auto": "auto", "no": "float32", "bf16": "bfloat16"}  # --mixed-precision -> requested dtype


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``key=value`` strings -> dict, values parsed as YAML (numbers, booleans, lists)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set {item!r}: expected key=value")
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise UserError(f"--set {item!r}: the value is not valid YAML") from None
    return out


def launch_command(recipe: Path, on_cpu: bool) -> list[str]:
    """The accelerate command line that trains ``recipe`` (on the CPU in one process when ``on_cpu``)."""
    device = ["--cpu", "--num_processes", "1"] if on_cpu else []
    return [sys.executable, "-m", "accelerate.commands.launch", *device, "-m", "axolotl.cli.train", str(recipe)]


def train(recipe_path: Path, overrides: dict[str, Any] | None = None, root: Path = Path("."),
          dry_run: bool = False, mixed_precision: str = "auto") -> Path:
    """Check, then train ``recipe_path`` with Axolotl; returns the output folder (adapter + training record).

    ``mixed_precision`` (CPU recipes): auto (decided per machine) | no (fp32) | bf16 (accelerate's autocast).
    """
    overrides = overrides or {}
    problems = check_recipe(recipe_path, root=root, for_training=True, overrides=overrides)
    if problems:
        raise UserError("\n".join(f"{recipe_path}: {p}" for p in problems))
    recipe = {**load_recipe(recipe_path), **overrides}
    out_dir = root / recipe["output_dir"]
    out_dir.mkdir(parents=True, exist_ok=True)
    launched = recipe_path
    if overrides:  # Axolotl reads one YAML: write the merged recipe beside the outputs
        launched = out_dir / "recipe.yml"
        atomic_write_text(launched, yaml.safe_dump(recipe, sort_keys=False))
    write_training_record(out_dir, training_record(recipe_path, recipe, root))
    env = {**os.environ, "AXOLOTL_DO_NOT_TRACK": "1"}
    on_cpu = is_cpu_recipe(recipe)
    if on_cpu:
        requested = MIXED_PRECISION[mixed_precision]
        print(decide_precision("cpu", requested).line(), file=sys.stderr)
        env[CPU_PRECISION_ENV] = requested
    cmd = launch_command(launched, on_cpu)
    print(" ".join(cmd[1:]), file=sys.stderr)
    if dry_run:
        return out_dir
    result = subprocess.run(cmd, cwd=root, env=env)
    if result.returncode != 0:
        raise UserError(f"{recipe_path}: Axolotl exited with status {result.returncode} (its log is above)")
    return out_dir
