"""evalkit's library entry point: ``evaluate_split(EvalRequest(...)) -> summary``.

The CLI (``python -m evalkit run``) and the experiment matrix both build an EvalRequest and call this one function.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

from arccommon.errors import UserError
from evalkit.request import ENGINES, EvalRequest

LOG_FILE = "eval.log"  # what libraries log and warn during an evaluation (the console keeps our lines)


def evaluate_split(request: EvalRequest) -> tuple[dict[str, Any] | None, Path]:
    """Predict, vote and score every test output of ``request.split``; write predictions.json, summary.json,
    per_task.jsonl and report.html to the output folder (resuming finished tasks). Returns (summary, folder).

    Under ``accelerate launch --num_processes N`` the tasks are shared out (evalkit/shards.py) and only the main
    process, which merges the shards and writes the files, gets the summary; the others get None."""
    from arccommon.noise import third_party_output
    from arccommon.precision import decide_precision, resolve_device
    from arcprep.encoding import max_answer_tokens
    from evalkit.model import check_adapter_weights, find_adapter, resolve_base, task_adapters
    from evalkit.report import write_report
    from evalkit.run import EvalConfig, evaluate, select
    from evalkit.selection import SELECTIONS
    from evalkit.shards import current_shard
    from recipes.record import prompt_settings

    device = resolve_device(request.device)
    shard = current_shard(device)
    device = shard.device or device  # each process of a multi-GPU launch on its own GPU
    views = request.views(device)
    mode = request.selection(views)
    if request.engine not in ENGINES:
        raise UserError(f"--engine {request.engine}: unknown; choose from {', '.join(ENGINES)}")
    if mode not in SELECTIONS:
        raise UserError(f"--select {mode}: unknown; choose from {', '.join(SELECTIONS)}")
    if request.stop_past_truth and views > 1:
        raise UserError("--stop-past-truth changes which candidates compete when there are several views (a cut-off "
                        "wrong answer can no longer outvote a right one); use it with --augmentations 1 only")
    if request.dfs is not None and not 0 < request.dfs < 1:
        raise UserError(f"--dfs {request.dfs}: a probability threshold is above 0 and below 1 (e.g. 0.1)")
    if request.dfs is not None and request.engine != "hf":
        raise UserError(f"--dfs: depth-first sampling runs on the hf engine only, not {request.engine}")
    if request.dfs is not None and request.dfs_max < 1:
        raise UserError(f"--dfs-max {request.dfs_max}: at least 1 answer per view")
    if request.score_views is not None and (request.score_views < views or mode != "likelihood"):
        raise UserError(f"--score-views {request.score_views}: likelihood selection under at least the {views} "
                        f"view(s) generated")
    adapter = find_adapter(request.adapter) if request.adapter is not None else None
    per_task = request.adapter_per_task
    found = task_adapters(per_task) if per_task is not None else {}
    # a per-task adapter's record gives base and prompt settings (every task's was trained the same way)
    sample = next(iter(found.values()), None)
    base = resolve_base(adapter or sample, request.base)
    for weights_of in ([adapter] if adapter else []) + list(found.values()):
        check_adapter_weights(weights_of)  # before the base model loads: a bad file fails in a second
    tasks = select(request.split, request.tasks, request.limit)
    settings = prompt_settings(sample or adapter)
    max_new = request.max_new_tokens or max_answer_tokens(settings.encoding)
    cfg = EvalConfig(request.split, str(adapter) if adapter else None, base, mode, views, request.seed, max_new,
                     settings.encoding, settings.system_prompt, request.stop_past_truth, settings.prompt_format,
                     str(per_task) if per_task else None, request.dfs,
                     request.dfs_max if request.dfs is not None else 0,
                     request.score_views if request.score_views and request.score_views > views else 0)
    out = request.out_dir(base)
    if shard.is_main:
        print(f"{decide_precision(device, request.dtype).line()}; engine {request.engine}; third-party output: "
              f"{out / LOG_FILE}", flush=True)
    with third_party_output(out / (LOG_FILE if shard.count == 1 else f"eval.shard-{shard.index}.log")):
        if request.engine == "vllm":
            from evalkit.vllm_engine import vllm_predictor

            engine = vllm_predictor(request, base, adapter, found, sample, device, max_new, out, shard)
        else:
            engine = hf_predictor(request, base, adapter, found, sample, device, max_new)
        with engine as (predictor, switch):
            summary = evaluate(cfg, tasks, predictor, out, settings, batch_tasks=request.tasks_per_window(device),
                               count=predictor.count, max_prompt_tokens=request.max_prompt_tokens,
                               progress=request.progress, scorer=predictor.loglik, switch=switch, shard=shard)
    if shard.is_main:
        write_report(out, tasks)
    return summary, out


@contextlib.contextmanager
def hf_predictor(request: EvalRequest, base: str, adapter: Path | None, found: dict[str, Path],
                 sample: Path | None, device: str, max_new: int) -> Iterator[tuple[Any, Any]]:
    """(HF predictor, per-task adapter switch or None): the model in this process, adapters merged (one) or
    switched per task (per-task adapters)."""
    from evalkit.hf_predictor import HFPredictor
    from evalkit.model import TaskAdapters, load_model

    switch = None
    if found:
        model, tokenizer = load_model(base, None, device, request.dtype, tokenizer_from=sample)
        adapters = TaskAdapters(model, found, adapter)
        model, switch = adapters.model, adapters.use
    else:
        model, tokenizer = load_model(base, adapter, device, request.dtype)
    yield HFPredictor(model, tokenizer, request.batch(device), max_new), switch
