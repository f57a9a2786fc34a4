"""evalkit's library entry point: ``evaluate_split(EvalRequest(...)) -> summary``.

The CLI (``python -m evalkit run``) and the experiment matrix both build an EvalRequest and call this one function.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from arccommon.errors import UserError

CPU_VIEWS, GPU_VIEWS = 2, 8  # default views per test input
ENGINES = ("hf", "vllm")
LOG_FILE = "eval.log"  # what libraries log and warn during an evaluation (the console keeps our lines)


@dataclass
class EvalRequest:
    """Everything one evaluation needs: what to evaluate, how to predict, where the files go."""

    split: str = "eval"
    adapter: Path | None = None
    adapter_per_task: Path | None = None  # folder of TASK_ID/ adapters; ``adapter`` serves tasks without one
    base: str | None = None
    tasks: list[str] | None = None
    limit: int | None = None
    augmentations: int | None = None
    select: str | None = None
    batch_size: int | None = None
    max_new_tokens: int | None = None
    max_prompt_tokens: int | None = 6000
    stop_past_truth: bool = False
    engine: str = "hf"  # hf (Hugging Face generate in this process) | vllm (a vLLM server: evalkit/vllm_engine.py)
    vllm_url: str | None = None  # a running vLLM server to use instead of starting one
    vllm_port: int | None = None  # the port of the server evalkit starts (default: a free one)
    vllm_args: list[str] | None = None  # more arguments for the server evalkit starts (--tensor-parallel-size 8)
    device: str = "auto"
    dtype: str = "auto"
    out: Path | None = None
    seed: int = 0
    progress: bool = True

    def out_dir(self, base: str) -> Path:
        """``out``, or ``runs/eval/<adapter or base>-<split>``."""
        if self.out is not None:
            return self.out
        name = (self.adapter.name if self.adapter else Path(base).name) + "-" + self.split.replace("/", "_")
        return Path("runs/eval") / name

    def views(self, device: str) -> int:
        """Predictions (augmented views) per test input: ``augmentations``, else 2 on a CPU and 8 on a GPU."""
        return self.augmentations or (CPU_VIEWS if device.startswith("cpu") else GPU_VIEWS)

    def selection(self, views: int) -> str:
        """``select``, else likelihood when there are several views (vote is all one view can do)."""
        return self.select or ("likelihood" if views >= 2 else "vote")

    def batch(self, device: str) -> int:
        """8 on an accelerator; 1 on a CPU, where padded batches measured slower (bench/generation.py)."""
        return self.batch_size or (1 if device.startswith("cpu") else 8)

    def tasks_per_window(self, device: str) -> int:
        """Tasks predicted together: HF at least 4 (a batch's worth); vLLM 16, every prompt of them sent at once."""
        return 16 if self.engine == "vllm" else max(4, self.batch(device))


def evaluate_split(request: EvalRequest) -> tuple[dict[str, Any] | None, Path]:
    """Predict, vote and score every test output of ``request.split``; write predictions.json, summary.json,
    per_task.jsonl and report.html to the output folder (resuming finished tasks). Returns (summary, folder).

    Under ``accelerate launch --num_processes N`` the tasks are shared out (evalkit/shards.py) and only the main
    process, which merges the shards and writes the files, gets the summary; the others get None."""
    from arccommon.noise import third_party_output
    from arccommon.precision import decide_precision, resolve_device
    from arcprep.encoding import max_answer_tokens
    from evalkit.model import find_adapter, resolve_base, task_adapters
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
    adapter = find_adapter(request.adapter) if request.adapter is not None else None
    per_task = request.adapter_per_task
    found = task_adapters(per_task) if per_task is not None else {}
    # a per-task adapter's record gives base and prompt settings (every task's was trained the same way)
    sample = next(iter(found.values()), None)
    base = resolve_base(adapter or sample, request.base)
    tasks = select(request.split, request.tasks, request.limit)
    settings = prompt_settings(sample or adapter)
    max_new = request.max_new_tokens or max_answer_tokens(settings.encoding)
    cfg = EvalConfig(request.split, str(adapter) if adapter else None, base, mode, views, request.seed, max_new,
                     settings.encoding, settings.system_prompt, request.stop_past_truth, settings.prompt_format,
                     str(per_task) if per_task else None)
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
