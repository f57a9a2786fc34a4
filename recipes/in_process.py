"""Several Axolotl trainings in one Python process: Axolotl is imported once, and each training runs through its
own library entry points (``load_cfg``, ``load_datasets``, ``axolotl.train.train``: what ``axolotl.cli.train`` calls)
from a checked, merged recipe (:func:`recipes.launch.prepare`).

Per-task test-time training uses it: one such process per shard trains that shard's tasks one after another,
instead of a new ``accelerate launch`` per task (which spent ~24 s in imports and dataset preparation before the
first step). The base model is re-read for each training (Axolotl loads it inside ``train``), from the page cache.

``python -m recipes.in_process JOBS.json``: JOBS.json is a list of jobs, ``{"name", "recipe", "record", "extra"}``.
A job whose ``record`` exists is skipped; after a training its record is written (``extra`` + ``wall_s`` from the
job's start to the adapter saved, ``train_s`` the Trainer's own ``train_runtime``, steps and losses), so an
interrupted process resumes job by job. Axolotl is imported before the first job, once per process; the first
record a process writes carries those seconds as ``process_startup_s`` (not part of any job's ``wall_s``). Jobs
tokenize their samples without saving the prepared dataset (:func:`skip_saving_prepared_dataset`). A
failing job ends the process with one line naming it (exit 1); the records already written stay.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from arccommon.errors import UserError
from arccommon.files import atomic_write_text, read_json
from recipes.record import training_log

FAILED_PREFIX = "in_process: failed: "  # the one line a failing job prints (parsed by the caller)


def train_one(recipe: Path) -> float:
    """Train one merged recipe with Axolotl in this process; returns the Trainer's ``train_runtime`` (s)."""
    from axolotl.cli.args import TrainerCliArgs
    from axolotl.cli.config import load_cfg
    from axolotl.common.datasets import load_datasets
    from axolotl.integrations.base import PluginManager
    from axolotl.train import train

    cfg = load_cfg(str(recipe))
    _, _, trainer = train(cfg=cfg, dataset_meta=load_datasets(cfg=cfg, cli_args=TrainerCliArgs()))
    runtime = next((e["train_runtime"] for e in reversed(trainer.state.log_history) if "train_runtime" in e), 0.0)
    if cfg.get("plugins"):
        PluginManager.get_instance().post_train_unload(cfg)
    del trainer
    gc.collect()
    return float(runtime)


def import_axolotl() -> float:
    """Import Axolotl's training entry points (what every job uses, once per process); the seconds it took."""
    start = time.perf_counter()
    import axolotl.cli.config  # noqa: F401
    import axolotl.common.datasets  # noqa: F401
    import axolotl.train  # noqa: F401
    import axolotl.utils.data.sft as sft

    if hasattr(sft, "save_preprocessed_dataset"):
        sft.save_preprocessed_dataset = skip_saving_prepared_dataset
    return time.perf_counter() - start


def skip_saving_prepared_dataset(*args: Any, **kwargs: Any) -> None:
    """Stands in for Axolotl's ``save_preprocessed_dataset`` in this process: each job trains once on a task's few
    dozen samples, which tokenize in about a second, while writing them to disk as Arrow took ~2.5 s per task (a
    quarter of a job's time outside the trainer) and nothing reads them back."""


def run_jobs(jobs: list[dict[str, Any]], console: TextIO | None = None) -> int:
    """Train every job not yet recorded, in order, with one line per finished job on ``console``; returns how many
    were trained."""
    done, todo = 0, sum(not Path(job["record"]).exists() for job in jobs)
    startup = {"process_startup_s": import_axolotl()} if todo else {}
    for job in jobs:
        record = Path(job["record"])
        if record.exists():
            continue
        start = time.perf_counter()
        try:
            train_s = train_one(Path(job["recipe"]))
        except Exception as exc:  # noqa: BLE001 - one line naming the job; the finished records stay
            raise UserError(f"{job['name']}: training failed: {type(exc).__name__}: {exc}") from exc
        adapter = Path(job["recipe"]).parent
        entry = {**job.get("extra", {}), "wall_s": time.perf_counter() - start, "train_s": train_s,
                 **(startup if done == 0 else {}), **training_log(adapter)}
        atomic_write_text(record, json.dumps(entry, indent=2) + "\n")
        done += 1
        if console is not None:
            losses = entry["losses"]
            loss = f"loss {losses[0][1]:.3f} -> {losses[-1][1]:.3f}, " if losses else ""
            console.write(f"{job['name']}: {done}/{todo} trained, {entry['steps']} steps, {loss}"
                          f"{entry['wall_s']:.0f} s ({entry['train_s']:.0f} s in the trainer)\n")
            console.flush()
    return done


def route_output(log: Path) -> TextIO:
    """Send this process's stdout and stderr (Axolotl's logs, warnings, progress bars) to ``log``; returns a
    stream to the original stdout for our own lines."""
    console = os.fdopen(os.dup(1), "w", buffering=1)
    log.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    return console


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m recipes.in_process", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("jobs", type=Path, help="JSON list of {name, recipe, record, extra}")
    ap.add_argument("--log", type=Path, help="write Axolotl's output here; only one line per job on the console")
    args = ap.parse_args(argv)
    os.environ.setdefault("AXOLOTL_DO_NOT_TRACK", "1")
    console = route_output(args.log) if args.log else sys.stdout
    try:
        run_jobs(read_json(args.jobs), console)
    except UserError as exc:
        print(f"{FAILED_PREFIX}{exc}", file=sys.stderr, flush=True)
        if console is not sys.stdout:
            console.write(f"{FAILED_PREFIX}{exc}\n")
        return 1
    except KeyboardInterrupt:
        print("interrupted; finished trainings are kept", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
