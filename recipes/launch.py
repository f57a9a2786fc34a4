"""Check a recipe, launch Axolotl on it, and record what evalkit needs beside the adapter.

``python -m recipes train recipes/x.yml [--set key=value ...]`` runs
``accelerate launch [--cpu ...] -m axolotl.cli.train RECIPE`` after the checks pass. A recipe with
``train_device: cpu`` launches on the CPU at the precision :func:`arccommon.precision.decide_precision` picks for
this machine, applied inside Axolotl by :mod:`recipes.cpu_precision` (which CPU recipes list as a plugin);
GPU recipes keep their own ``bf16`` settings.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from arccommon.errors import UserError
from arccommon.files import atomic_write_text, read_json
from arccommon.precision import CPU_PRECISION_ENV, decide_precision
from recipes.check import check_recipe, is_cpu_recipe, load_recipe
from recipes.record import training_record, write_training_record
from recipes.zero3_save import restore_empty_adapter

LOSS_LINE = re.compile(rb"\{'loss': '?([0-9.]+)")  # the dict the Trainer logs at each logging step
STEPS_LINE = re.compile(rb"Maximum number of steps set at ([0-9]+)")  # Axolotl's count when epochs decide
RESUME_LINE = re.compile(rb"resume from checkpoint at \S*checkpoint-([0-9]+)")  # Axolotl's auto-resume
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


# Axolotl 0.19 sets device_map {"": LOCAL_RANK} whenever WORLD_SIZE > 1 (axolotl/utils/config/__init__.py), so
# each process loads its model onto accelerator LOCAL_RANK; without one, transformers stops ("Cannot access
# accelerator device when none is available"). tests/test_recipes.py pins this.
CPU_DDP_REFUSED = ("Axolotl 0.19 cannot train data-parallel on a CPU (it puts each process's model on accelerator "
                   "LOCAL_RANK) except under DeepSpeed ZeRO-3, which places the model itself; use --num-processes 1 "
                   "here, a ZeRO-3 recipe (with recipes.cpu_deepspeed.CpuDeepSpeedPlugin), or a GPU recipe")


def zero_stage(recipe: dict[str, Any], root: Path = Path(".")) -> int | None:
    """The ZeRO stage of ``recipe``'s DeepSpeed config (None without one)."""
    if not recipe.get("deepspeed"):
        return None
    config = recipe["deepspeed"]
    config = config if isinstance(config, dict) else read_json(root / config)
    return int((config.get("zero_optimization") or {}).get("stage", 0))


def free_port() -> int:
    """A TCP port nobody listens on now: the rendezvous of a multi-process training, which must not take the
    default port when it is started from inside a launch that already holds it (python -m experiments)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_command(recipe: Path, on_cpu: bool, processes: int = 1, port: int | None = None,
                   deepspeed: bool = False) -> list[str]:
    """The accelerate command line that trains ``recipe``: one process (on the CPU when ``on_cpu``), or
    ``processes`` data-parallel ones, one per GPU, through accelerate's multi-process launcher (torchrun), meeting
    at ``port`` when given. accelerate's ``--cpu`` turns DeepSpeed off, so a ``deepspeed`` recipe goes without it
    (DS_ACCELERATOR=cpu and recipes.cpu_deepspeed keep it on the CPU)."""
    if processes > 1:
        device = ["--multi_gpu", "--num_processes", str(processes)]
        device += ["--main_process_port", str(port)] if port else []
    else:
        device = []
        if on_cpu:
            device = ["--num_processes", "1"] if deepspeed else ["--cpu", "--num_processes", "1"]
    return [sys.executable, "-m", "accelerate.commands.launch", *device, "-m", "axolotl.cli.train", str(recipe)]


@dataclass
class Prepared:
    """A checked training, ready to start: the YAML Axolotl reads, its output folder, the merged recipe, and the
    environment variables it needs beyond this process's."""

    launched: Path
    out_dir: Path
    recipe: dict[str, Any]
    env: dict[str, str]

    @property
    def on_cpu(self) -> bool:
        return is_cpu_recipe(self.recipe)


def output_dir(recipe: dict[str, Any], root: Path = Path(".")) -> Path:
    """Where a (merged) recipe's training writes its adapter, checkpoints and log."""
    return root / recipe["output_dir"]


def prepare(recipe_path: Path, overrides: dict[str, Any] | None = None, root: Path = Path("."),
            mixed_precision: str = "auto", processes: int = 1, quiet: bool = False) -> Prepared:
    """Check ``recipe_path`` (+ ``overrides``), write the merged recipe and the training record into its output
    folder; a problem is one UserError naming the recipe and the key. Prints the precision decision unless
    ``quiet``."""
    overrides = overrides or {}
    if processes < 1:
        raise UserError(f"--num-processes {processes}: must be at least 1")
    problems = check_recipe(recipe_path, root=root, for_training=True, overrides=overrides)
    if problems:
        raise UserError("\n".join(f"{recipe_path}: {p}" for p in problems))
    recipe = {**load_recipe(recipe_path), **overrides}
    if processes > 1 and is_cpu_recipe(recipe) and zero_stage(recipe, root) != 3:
        raise UserError(f"{recipe_path}: --num-processes {processes}: {CPU_DDP_REFUSED}")
    out_dir = output_dir(recipe, root)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{recipe_path}: output_dir {out_dir}: cannot be created ({exc.strerror})") from None
    launched = recipe_path
    if overrides:  # Axolotl reads one YAML: write the merged recipe beside the outputs
        launched = out_dir / "recipe.yml"
        atomic_write_text(launched, yaml.safe_dump(recipe, sort_keys=False))
    write_training_record(out_dir, training_record(recipe_path, recipe, root))
    env = {"AXOLOTL_DO_NOT_TRACK": "1"}
    if is_cpu_recipe(recipe) and recipe.get("deepspeed"):
        env["DS_ACCELERATOR"] = "cpu"  # DeepSpeed's CPU accelerator (gloo without oneCCL): recipes/cpu_deepspeed.py
    if is_cpu_recipe(recipe):
        requested = MIXED_PRECISION[mixed_precision]
        if not quiet:
            print(decide_precision("cpu", requested).line(), file=sys.stderr)
        if requested != "auto":  # the plugin inside Axolotl reads it; auto leaves a user's setting in place
            env[CPU_PRECISION_ENV] = requested
    return Prepared(launched, out_dir, recipe, env)


def train(recipe_path: Path, overrides: dict[str, Any] | None = None, root: Path = Path("."),
          dry_run: bool = False, mixed_precision: str = "auto", processes: int = 1,
          env: Mapping[str, str] | None = None, log: Path | None = None, label: str = "training") -> Path:
    """Check, then train ``recipe_path`` with Axolotl in a new process; returns the output folder (adapter +
    training record). With ``log``, Axolotl's output goes there and a progress bar (``label``) to the console.

    ``mixed_precision`` (CPU recipes): auto (decided per machine) | no (fp32) | bf16 (accelerate's autocast).
    ``processes`` > 1 trains data-parallel (DDP), one process per GPU (GPU recipes only: see CPU_DDP_REFUSED).
    ``env``: Axolotl's environment (default: this process's), e.g. one process's share of a machine.
    """
    job = prepare(recipe_path, overrides, root, mixed_precision, processes)
    env = {**(os.environ if env is None else env), **job.env}
    cmd = launch_command(job.launched, job.on_cpu, processes, free_port() if processes > 1 else None,
                         deepspeed=bool(job.recipe.get("deepspeed")))
    shown = shown_command(cmd, root)
    if dry_run or log is None:  # with a log, the command is the log's first line instead
        print(shown, file=sys.stderr)
    if dry_run:
        return job.out_dir
    if log is None:
        result = subprocess.run(cmd, cwd=root, env=env)
        if result.returncode != 0:
            raise UserError(f"{recipe_path}: Axolotl exited with status {result.returncode} (its log is above)")
    else:
        returncode = run_logged(cmd, root, env, log, job.recipe.get("max_steps"), label, header=shown)
        if returncode != 0:
            show_log_tail(log)
            raise UserError(f"{recipe_path}: Axolotl exited with status {returncode}; log: {log}")
    if zero_stage(job.recipe, root) == 3:
        restored = restore_empty_adapter(job.out_dir, job.recipe.get("max_steps"))
        if restored:
            print(restored, file=sys.stderr)
    return job.out_dir


def shown_command(cmd: list[str], root: Path) -> str:
    """``cmd`` without the interpreter, with paths inside ``root`` relative to it (as a user would type it there)."""
    base = root.resolve()
    parts = []
    for part in cmd[1:]:
        path = Path(part)
        parts.append(str(path.resolve().relative_to(base)) if path.is_absolute() and path.resolve().is_relative_to(
            base) else part)
    return " ".join(parts)


def show_log_tail(log: Path, lines: int = 15) -> None:
    """Print the last non-empty ``lines`` of ``log`` (progress bars' carriage returns as line ends) on stderr."""
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    tail = [line for line in text.replace("\r", "\n").splitlines() if line.strip()][-lines:]
    sys.stderr.write("".join(f"  | {line}\n" for line in tail))


def run_logged(cmd: list[str], cwd: Path, env: Mapping[str, str], log: Path, steps: int | None,
               label: str = "training", header: str | None = None) -> int:
    """Run ``cmd`` with its stdout and stderr appended to ``log``; show one progress bar of its optimizer steps
    (counted from the loss lines the Trainer logs every step) on stderr instead, of ``steps`` or, when None, of the
    count Axolotl works out from the epochs. ``header`` (the command) opens the log's new part. Returns the exit
    status."""
    from tqdm import tqdm

    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink, tqdm(total=steps, desc=label, unit="step", mininterval=2, leave=True) as bar, \
            subprocess.Popen(cmd, cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        assert proc.stdout is not None
        if header:
            sink.write(f"$ {header}\n".encode())
        for chunk in iter(lambda: proc.stdout.read1(1 << 16), b""):  # type: ignore[union-attr]
            sink.write(chunk)
            total = STEPS_LINE.findall(chunk)
            if total and bar.total is None:  # a recipe set by epochs: the bar gets its length (and an ETA)
                bar.total = int(total[-1])
                bar.refresh()
            resumed = RESUME_LINE.findall(chunk)
            if resumed and bar.n == 0:  # the steps done before the interruption: counted, not timed
                bar.initial = bar.n = bar.last_print_n = int(resumed[-1])
                bar.refresh()
            losses = LOSS_LINE.findall(chunk)
            if losses:
                bar.update(len(losses))
                bar.set_postfix(loss=losses[-1].decode(), refresh=False)
    return proc.returncode
