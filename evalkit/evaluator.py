"""evalkit's library entry point: ``evaluate_split(EvalRequest(...)) -> summary``.

The CLI (``python -m evalkit run``) and the experiment matrix both build an EvalRequest and call this one function.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arccommon.errors import UserError


@dataclass
class EvalRequest:
    """Everything one evaluation needs: what to evaluate, how to predict, where the files go."""

    split: str = "eval"
    adapter: Path | None = None
    base: str | None = None
    tasks: list[str] | None = None
    limit: int | None = None
    attempts: int = 2
    augmentations: int = 1
    batch_size: int | None = None
    max_new_tokens: int | None = None
    max_prompt_tokens: int | None = 6000
    stop_past_truth: bool = False
    device: str = "cpu"
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

    def default_batch_size(self) -> int:
        """8 on an accelerator; 1 on a CPU, where padded batches measured slower (bench/generation.py)."""
        return self.batch_size or (1 if self.device.startswith("cpu") else 8)


def evaluate_split(request: EvalRequest) -> tuple[dict[str, Any], Path]:
    """Predict, vote and score every test output of ``request.split``; write predictions.json, summary.json,
    per_task.jsonl and report.html to the output folder (resuming finished tasks). Returns (summary, folder)."""
    from arcprep.encoding import max_answer_tokens
    from evalkit.hf_predictor import HFPredictor
    from evalkit.model import load_model, resolve_base
    from evalkit.report import write_report
    from evalkit.run import EvalConfig, evaluate, select
    from recipes.record import prompt_settings

    if request.adapter is not None and not request.adapter.is_dir():
        raise UserError(f"{request.adapter}: no such adapter folder")
    base = resolve_base(request.adapter, request.base)
    tasks = select(request.split, request.tasks, request.limit)
    settings = prompt_settings(request.adapter)
    max_new = request.max_new_tokens or max_answer_tokens(settings.encoding)
    cfg = EvalConfig(request.split, str(request.adapter) if request.adapter else None, base, request.attempts,
                     request.augmentations, request.seed, max_new, settings.encoding, settings.system_prompt,
                     request.stop_past_truth)
    out = request.out_dir(base)
    model, tokenizer = load_model(base, request.adapter, request.device, request.dtype)
    batch = request.default_batch_size()
    predictor = HFPredictor(model, tokenizer, batch, max_new)
    summary = evaluate(cfg, tasks, predictor, out, settings, batch_tasks=max(4, batch), count=predictor.count,
                       max_prompt_tokens=request.max_prompt_tokens, progress=request.progress)
    write_report(out, tasks)
    return summary, out
