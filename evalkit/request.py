"""What one evaluation is asked to do (EvalRequest): the type the CLI, the experiments and both engines share.

Its own module so that evaluator.py (which dispatches to the engines) and vllm_engine.py (one engine) both import
it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CPU_VIEWS, GPU_VIEWS = 2, 8  # default views per test input
ENGINES = ("hf", "vllm")
DFS_MAX = 4  # depth-first sampling's default cap on answers per view


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
    dfs: float | None = None  # depth-first sampling: every answer at least this likely per view (evalkit/dfs.py)
    dfs_max: int = DFS_MAX  # ... at most this many per view
    score_views: int | None = None  # likelihood selection scores under this many views (default: those generated)
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
