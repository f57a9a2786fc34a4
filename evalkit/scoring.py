"""The official ARC scoring rule and diagnostics, as small registered metric functions.

A test output is solved when one of its at most two attempts (``attempt_1``, ``attempt_2``) equals it exactly
(shape and every cell); anything past the second attempt never counts.
``score``: mean over tasks of the fraction of that task's test outputs solved (ARC-AGI benchmarking harness).
``output_accuracy``: solved test outputs / all test outputs (Kaggle ARC Prize metric).
"""

from __future__ import annotations

from typing import Any, Callable

from arcprep.tasks import Grid, grid_problem

METRICS: dict[str, Callable[[list[dict[str, Any]]], float | int]] = {}
ATTEMPT_KEYS = ("attempt_1", "attempt_2")  # the ARC rule: two attempts per test output, named so in submissions


def metric(fn: Callable[[list[dict[str, Any]]], float | int]) -> Callable[[list[dict[str, Any]]], float | int]:
    """Register ``fn`` (per-task records -> number) under its name."""
    METRICS[fn.__name__] = fn
    return fn


def is_grid(value: Any) -> bool:
    """A valid ARC grid (the one rule: :func:`arcprep.tasks.grid_problem`)."""
    return grid_problem(value) is None


def same_grid(a: Any, b: Grid) -> bool:
    return is_grid(a) and a == b


_FIRST_ATTEMPT = object()  # output_record's default answer: the first attempt


def output_record(attempts: list[Any], truth: Grid, candidates: list[Any] | None = None,
                  answer: Any = _FIRST_ATTEMPT) -> dict[str, Any]:
    """Score one test output: solved, first attempt right, shape, cell accuracy, oracle over candidates.

    Only the first two ``attempts`` count. ``answer`` is the model's own first answer (None: it gave none; default:
    the first attempt); shape, cell accuracy and ``answered`` judge it, so a fallback attempt is never taken for
    the model's answer.
    """
    attempts = attempts[:len(ATTEMPT_KEYS)]
    first = attempts[0] if attempts else None
    answer = first if answer is _FIRST_ATTEMPT else answer
    shape_ok = is_grid(answer) and (len(answer), len(answer[0])) == (len(truth), len(truth[0]))
    cells = sum(a == b for ra, rb in zip(answer, truth) for a, b in zip(ra, rb)) if shape_ok else 0
    pool = candidates if candidates is not None else attempts
    return {"solved": any(same_grid(a, truth) for a in attempts), "pass_at_1": same_grid(first, truth),
            "shape_ok": shape_ok, "cell_accuracy": cells / (len(truth) * len(truth[0])) if shape_ok else None,
            "answered": is_grid(answer), "oracle": any(same_grid(c, truth) for c in pool)}


def task_record(task_id: str, attempts: list[list[Any]], truths: list[Grid],
                candidates: list[list[Any]] | None = None, answers: list[Any] | None = None) -> dict[str, Any]:
    """Per-task record; ``attempts[i]`` are the attempts for test output i (missing outputs score 0).

    ``answers[i]``: the model's own first answer for output i (None: none) when the attempts hold fallbacks.
    """
    outputs = []
    for i, truth in enumerate(truths):
        outputs.append(output_record(attempts[i] if i < len(attempts) else [], truth,
                                     candidates[i] if candidates and i < len(candidates) else None,
                                     answers[i] if answers is not None and i < len(answers) else _FIRST_ATTEMPT))
    return {"task_id": task_id, "outputs": outputs,
            "score": sum(o["solved"] for o in outputs) / len(outputs)}


def _outputs(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for r in records for o in r["outputs"]]


def _share(records: list[dict[str, Any]], key: str) -> float:
    """Share of all test outputs whose ``key`` is true."""
    outs = _outputs(records)
    return sum(bool(o[key]) for o in outs) / len(outs) if outs else 0.0


@metric
def score(records: list[dict[str, Any]]) -> float:
    return sum(r["score"] for r in records) / len(records) if records else 0.0


@metric
def output_accuracy(records: list[dict[str, Any]]) -> float:
    return _share(records, "solved")


@metric
def n_tasks(records: list[dict[str, Any]]) -> int:
    return len(records)


@metric
def n_outputs(records: list[dict[str, Any]]) -> int:
    return len(_outputs(records))


@metric
def tasks_solved(records: list[dict[str, Any]]) -> int:
    return sum(r["score"] == 1.0 for r in records)


@metric
def pass_at_1(records: list[dict[str, Any]]) -> float:
    return _share(records, "pass_at_1")


@metric
def shape_accuracy(records: list[dict[str, Any]]) -> float:
    return _share(records, "shape_ok")


@metric
def cell_accuracy_when_shape_ok(records: list[dict[str, Any]]) -> float:
    vals = [o["cell_accuracy"] for o in _outputs(records) if o["cell_accuracy"] is not None]
    return sum(vals) / len(vals) if vals else 0.0


@metric
def unanswered(records: list[dict[str, Any]]) -> float:
    outs = _outputs(records)
    return sum(not o["answered"] for o in outs) / len(outs) if outs else 0.0


@metric
def oracle_pass_at_n(records: list[dict[str, Any]]) -> float:
    return _share(records, "oracle")


def summarize(records: list[dict[str, Any]]) -> dict[str, float | int]:
    """Every registered metric over the per-task records."""
    return {name: fn(records) for name, fn in METRICS.items()}


def score_submission(predictions: Any, solutions: Any) -> tuple[dict[str, float | int], list[str]]:
    """Score a Kaggle submission ``{task_id: [{"attempt_1": grid, "attempt_2": grid}, ...]}`` against
    ``{task_id: [grid, ...]}``. Returns (summary, problems); malformed entries score 0 and are reported."""
    problems: list[str] = []
    if not isinstance(predictions, dict):
        problems.append("predictions: not a {task_id: [...]} mapping")
        predictions = {}
    records = []
    for task_id in sorted(solutions):
        truths = solutions[task_id]
        entry = predictions.get(task_id)
        if entry is None:
            problems.append(f"{task_id}: missing from predictions (scores 0)")
            entry = []
        elif not isinstance(entry, list):
            problems.append(f"{task_id}: expected a list of attempt dicts")
            entry = []
        attempts = []
        for i, item in enumerate(entry):
            if not isinstance(item, dict):
                problems.append(f"{task_id}[{i}]: expected {{'attempt_1': grid, ...}}")
                attempts.append([])
                continue
            for k in sorted(set(item) - set(ATTEMPT_KEYS)):
                problems.append(f"{task_id}[{i}].{k}: not attempt_1 or attempt_2 (at most two attempts count; ignored)")
            for k in ATTEMPT_KEYS:
                if k in item and not is_grid(item[k]):
                    problems.append(f"{task_id}[{i}].{k}: not a grid")
            attempts.append([item[k] for k in ATTEMPT_KEYS if k in item])
        records.append(task_record(task_id, attempts, truths))
    for task_id in sorted(set(predictions) - set(solutions)):
        problems.append(f"{task_id}: not in solutions (ignored)")
    return summarize(records), problems
