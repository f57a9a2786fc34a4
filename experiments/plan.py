"""The plan of an experiment run: scale, task subsets per split, datasets to build, runs in order."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from arccommon.errors import UserError
from arccommon.files import load_yaml
from arccommon.paths import EMBEDDED_MODEL_DIR, PRIOR_DIRS
from arcprep.augment import AUGMENTS
from arcprep.build import BuildConfig
from arcprep.counting import CountConfig
from arcprep.leakage import leaked_tasks
from arcprep.sources import load_source
from arcprep.tasks import Task

MATRIX = Path(__file__).with_name("matrix.yml")
SPLITS = ("train", "eval", "test")
# ttt_SPLIT: leave-one-out samples from the demonstration pairs of the split's tasks (test outputs never read)
DATASETS = ("arc_train", "arc_eval", "arc_trainval", "count", "ttt_eval", "ttt_test")
RECIPE_ROLES = ("arc", "count", "count_then_arc", "ttt")
TTT_MODES = ("shared", "per_task")
TTT_PROCESSES = ("one", "per_task")


@dataclass
class Scale:
    """How much of everything; recorded in the results so a table always says what made it."""

    name: str
    tasks: int
    copies: int
    steps: int
    count_samples: int
    augmentations: int
    prompt_format: str = "single"  # of every ARC dataset (arcprep/prompt.py)
    ttt_mode: str = "shared"  # shared: one adapter for all tasks of a split; per_task: one adapter per task
    ttt_copies: int = 8  # augmented samples per held-out demonstration pair
    ttt_epochs: float = 1.0  # passes of each test-time training over its own samples (per task, or all tasks')
    ttt_steps: int | None = None  # when set, a fixed number of optimizer steps per TTT adapter instead of epochs
    ttt_process: str = "one"  # per-task TTT: one Python process per shard for all its tasks, or a launch per task
    epochs: float | None = None  # when set, every training run's steps = epochs over its data (steps ignored)
    max_tokens: int = 2048  # token budget per sample
    base_model: str = str(EMBEDDED_MODEL_DIR)
    tokenizer: str | None = None  # counts tokens for the budget (default: base_model's)
    seed: int = 0
    skip_tasks: int = 0  # pass over this many smallest tasks per split first (a held-out set to choose settings on)
    overrides: dict[str, Any] = field(default_factory=dict)  # recipe keys set for every training run
    ttt_overrides: dict[str, Any] = field(default_factory=dict)  # and then for test-time training runs
    recipes: dict[str, str] = field(default_factory=dict)  # this scale's recipe per role (default: the matrix's)

    def recipe_overrides(self, ttt: bool) -> dict[str, Any]:
        """The recipe keys this scale sets on a training: ``overrides``, then ``ttt_overrides`` for TTT."""
        return {**self.overrides, **(self.ttt_overrides if ttt else {})}


SHIPPED_ADAPTERS = tuple(PRIOR_DIRS)  # adapters a run may use as they are: the broad priors (recipes/prior.py)


@dataclass
class Run:
    name: str
    train: str | None = None
    after: str | None = None
    evaluate: list[str] = field(default_factory=list)
    adapter: str | None = None  # a shipped adapter (prior): evaluated as it is, continued by runs naming this one


@dataclass
class Plan:
    scale: Scale
    recipes: dict[str, str]
    runs: list[Run]
    tasks: dict[str, list[Task]]

    def task_ids(self, split: str) -> list[str]:
        return [t.id for t in self.tasks[split]]


def load_matrix(path: Path = MATRIX) -> dict[str, Any]:
    """Read and check the matrix; every mistake is a one-line UserError naming the file and the key."""
    matrix = load_yaml(path)
    _check_keys(path, "", matrix, {"scales", "recipes", "runs"})
    for section in ("scales", "recipes", "runs"):
        if not isinstance(matrix.get(section) or {}, dict):
            raise UserError(f"{path}: {section}: expected a mapping")
    scale_keys = {f.name for f in fields(Scale)} - {"name"}
    for name, spec in (matrix.get("scales") or {}).items():
        _check_keys(path, f"scales.{name}", spec, scale_keys)
    _check_keys(path, "recipes", matrix.get("recipes") or {}, set(RECIPE_ROLES))
    for name, spec in (matrix.get("scales") or {}).items():
        _check_keys(path, f"scales.{name}.recipes", spec.get("recipes") or {}, set(RECIPE_ROLES))
    runs = matrix.get("runs") or {}
    for name, spec in runs.items():
        where, spec = f"{path}: runs.{name}", spec or {}
        _check_keys(path, f"runs.{name}", spec, {f.name for f in fields(Run)} - {"name"})
        if spec.get("after") and spec["after"] not in runs:
            raise UserError(f"{where}: continues unknown run {spec['after']!r}")
        if spec.get("adapter") and (spec["adapter"] not in SHIPPED_ADAPTERS or spec.get("train")):
            raise UserError(f"{where}: adapter {spec['adapter']!r}: a run without training may name one of "
                            f"{', '.join(SHIPPED_ADAPTERS)}")
        if spec.get("train") and spec["train"] not in DATASETS:
            raise UserError(f"{where}: unknown dataset {spec['train']!r}; known: {', '.join(DATASETS)}")
        for split in spec.get("evaluate") or []:
            if split not in SPLITS:
                raise UserError(f"{where}: unknown split {split!r}; known: {', '.join(SPLITS)}")
    return matrix


def _check_keys(path: Path, where: str, value: Any, known: set[str]) -> None:
    """``value`` must be a mapping whose keys are all in ``known`` (typos get the closest known key)."""
    import difflib

    prefix = f"{path}: {where}" if where else f"{path}"
    if not isinstance(value, dict):
        raise UserError(f"{prefix}: expected a mapping")
    for key in value:
        if key not in known:
            close = difflib.get_close_matches(str(key), sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(sorted(known))}"
            raise UserError(f"{prefix}: unknown key {key!r}{hint}")


def make_scale(matrix: dict[str, Any], name: str, overrides: dict[str, Any]) -> Scale:
    """The named scale of the matrix with command-line overrides applied."""
    scales = matrix.get("scales") or {}
    if name not in scales:
        raise UserError(f"unknown scale {name!r}; known: {', '.join(scales)}")
    values = {**scales[name], **{k: v for k, v in overrides.items() if v is not None}}
    scale = Scale(name=name, **values)
    if scale.ttt_mode not in TTT_MODES:
        raise UserError(f"scale {name}: ttt_mode {scale.ttt_mode!r}; choose from {', '.join(TTT_MODES)}")
    if scale.ttt_process not in TTT_PROCESSES:
        raise UserError(f"scale {name}: ttt_process {scale.ttt_process!r}; choose from {', '.join(TTT_PROCESSES)}")
    if scale.skip_tasks < 0:
        raise UserError(f"scale {name}: skip_tasks {scale.skip_tasks}: must be 0 or more")
    if scale.ttt_epochs <= 0:
        raise UserError(f"scale {name}: ttt_epochs {scale.ttt_epochs}: must be positive")
    return scale


def by_size(tasks: list[Task]) -> list[Task]:
    """``tasks`` ranked by grid cells (prompt length follows cell count), ties by id: the rank every task rule
    counts in."""
    return sorted(tasks, key=lambda t: (t.cells(), t.id))


def smallest(tasks: list[Task], n: int, skip: int = 0) -> list[Task]:
    """The ``n`` tasks with the fewest grid cells after the ``skip`` smallest (:func:`by_size`), in id order."""
    return sorted(by_size(tasks)[skip:skip + n], key=lambda t: t.id)


def select_tasks(n: int, skip: int = 0) -> dict[str, list[Task]]:
    """Task subsets: the ``n`` smallest of ARC-1 train and eval, and of ARC-2 eval minus tasks leaked from ARC-1,
    after the ``skip`` smallest of each."""
    train, evaluation = load_source("train").tasks, load_source("eval").tasks
    test = load_source("test").tasks
    leaks = leaked_tasks(train + evaluation, test)
    return {"train": smallest(train, n, skip), "eval": smallest(evaluation, n, skip),
            "test": smallest([t for t in test if t.id not in leaks], n, skip)}


def make_plan(matrix: dict[str, Any], scale: Scale, only: list[str] | None = None) -> Plan:
    """Runs in dependency order (``after`` first); ``only`` keeps those runs plus what they continue from."""
    runs = {name: Run(name=name, **(spec or {})) for name, spec in (matrix.get("runs") or {}).items()}
    wanted = set(only or runs)
    unknown = sorted(wanted - set(runs))
    if unknown:
        raise UserError(f"unknown run(s) {', '.join(unknown)}; known: {', '.join(runs)}")
    for name in list(wanted):
        while runs[name].after:
            name = runs[name].after
            wanted.add(name)
    ordered = sorted((r for r in runs.values() if r.name in wanted), key=lambda r: r.after is not None)
    needed = {split for r in ordered if r.train or r.adapter for split in r.evaluate}
    if only and needed:  # the untrained reference is scored only where the chosen runs are
        for r in ordered:
            if not r.train and not r.adapter:
                r.evaluate = [split for split in r.evaluate if split in needed]
    return Plan(scale, {**(matrix.get("recipes") or {}), **scale.recipes}, ordered,
                select_tasks(scale.tasks, scale.skip_tasks))


def dataset_configs(plan: Plan, tokenizer: str | None = None) -> dict[str, BuildConfig | CountConfig]:
    """The datasets the plan's runs train on, as arcprep configs (explicit task ids: the subsets above)."""
    s = plan.scale
    tokenizer = tokenizer or s.tokenizer or s.base_model
    arc = dict(augment=list(AUGMENTS), copies=s.copies, seed=s.seed,
               tokenizer=tokenizer, max_tokens=s.max_tokens, prompt_format=s.prompt_format)
    ttt = {**arc, "copies": s.ttt_copies, "leave_one_out": True}
    configs: dict[str, BuildConfig | CountConfig] = {
        "arc_train": BuildConfig(source="train", tasks=plan.task_ids("train"), **arc),
        "arc_eval": BuildConfig(source="eval", tasks=plan.task_ids("eval"), **arc),
        "arc_trainval": BuildConfig(source="train+eval", tasks=plan.task_ids("train") + plan.task_ids("eval"), **arc),
        "count": CountConfig(samples=s.count_samples, seed=s.seed, tokenizer=tokenizer, max_tokens=s.max_tokens),
        "ttt_eval": BuildConfig(source="eval", tasks=plan.task_ids("eval"), **ttt),
        "ttt_test": BuildConfig(source="test", tasks=plan.task_ids("test"), **ttt),
    }
    used = {r.train for r in plan.runs if r.train}
    return {k: v for k, v in configs.items() if k in used}


def samples_per_step(scale: Scale, recipe: dict[str, Any], ttt: bool = False) -> int:
    """Samples per optimizer step of ``recipe`` under the scale's overrides (and ``ttt_overrides`` for test-time
    training): micro batch x accumulation."""
    merged = {**recipe, **scale.recipe_overrides(ttt)}
    return int(merged.get("micro_batch_size", 1)) * int(merged.get("gradient_accumulation_steps", 1))


def training_steps(scale: Scale, recipe: dict[str, Any], samples: int, ttt: bool) -> int:
    """Optimizer steps of one training at :func:`samples_per_step`: a test-time training runs ``ttt_epochs``
    over its own ``samples`` (or ``ttt_steps`` when set); another ``epochs`` over them when the scale sets epochs,
    else its fixed step count."""
    if ttt and scale.ttt_steps:
        return scale.ttt_steps
    epochs = scale.ttt_epochs if ttt else scale.epochs
    if epochs:
        return max(1, -(-int(epochs * samples) // samples_per_step(scale, recipe, ttt)))
    return scale.steps
