"""``python -m evalkit run --adapter out/ --split eval`` (``run`` may be left out) and
``python -m evalkit score --predictions P --solutions S``. Each builds a request and calls one library function."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from arccommon.cli import csv_list, dispatch
from arccommon.errors import UserError
from arccommon.files import read_json
from arccommon.noise import silence_known_noise
from evalkit.evaluator import EvalRequest
from evalkit.request import DFS_MAX

SUMMARY_KEYS = ["score", "output_accuracy", "n_tasks", "n_outputs", "pass_at_1", "shape_accuracy",
                "oracle_pass_at_n", "unparseable_candidates", "select", "selection", "tokens_per_s", "generation_s",
                "selection_s", "wall_s"]


def add_run_options(ap: argparse.ArgumentParser) -> None:
    """The options of ``run`` (one per field of :class:`evalkit.evaluator.EvalRequest`)."""
    ap.add_argument("--adapter", type=Path, help="LoRA adapter folder (its base model is read from it), or a folder "
                    "holding exactly one final adapter below it (an Axolotl output_dir)")
    ap.add_argument("--adapter-per-task", type=Path, metavar="DIR",
                    help="per-task adapters (test-time training): task T is predicted with DIR/T (an adapter or an "
                         "output_dir holding one); tasks without one use --adapter, else the bare base")
    ap.add_argument("--base", help="base model folder or id; alone: score the base model without an adapter")
    ap.add_argument("--split", default="eval", help="train | eval | test | any arcprep source")
    ap.add_argument("--tasks", type=csv_list, help="only these task ids (comma list)")
    ap.add_argument("--limit", type=int, help="only the first N tasks")
    ap.add_argument("--augmentations", type=int, metavar="VIEWS",
                    help="augmented views (greedy predictions) per test input; default 2 on a CPU, 8 on a GPU")
    ap.add_argument("--dfs", type=float, metavar="P",
                    help="depth-first sampling (hf engine): per view, every answer of probability >= P besides the "
                         "greedy one (evalkit/dfs.py); off by default")
    ap.add_argument("--dfs-max", type=int, default=DFS_MAX, metavar="N",
                    help=f"--dfs: at most N answers per view, most probable first (default {DFS_MAX})")
    ap.add_argument("--score-views", type=int, metavar="N",
                    help="likelihood selection: score each candidate under N views (the generated ones and more, "
                         "drawn the same way; default: only the generated ones)")
    ap.add_argument("--select", choices=["vote", "likelihood"],
                    help="how two attempts are chosen from the candidates: vote count, or the sum over views of each "
                         "candidate's log-likelihood (default: likelihood with 2+ views, else vote); summary.json "
                         "reports both from the same candidates")
    ap.add_argument("--batch-size", type=int,
                    help="prompts generated together (default: 8 on a GPU; 1 on a CPU, where padded batches measured "
                         "slower: bench/generation.py)")
    ap.add_argument("--max-new-tokens", type=int,
                    help="cap per answer (default: the largest 30x30 grid + end of turn, 930 tokens in plain)")
    ap.add_argument("--max-prompt-tokens", type=int, default=6000, help="drop train pairs past this prompt length")
    ap.add_argument("--stop-past-truth", action="store_true",
                    help="one view only: stop each batch past its longest true answer + newline + end of turn (the "
                         "score is unchanged: longer answers are wrong anyway; attempts may be cut short)")
    ap.add_argument("--engine", default="hf", choices=["hf", "vllm"],
                    help="hf: Hugging Face generate in this process (default; the faster one on a CPU: "
                         "bench/engines.py); vllm: a vLLM server from its own environment (make install-vllm), "
                         "every adapter a LoRA in one engine")
    ap.add_argument("--vllm-url", metavar="URL",
                    help="--engine vllm: a vLLM server already running (vllm serve BASE --enable-lora, with "
                         "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True), e.g. one on several GPUs; else evalkit starts one")
    ap.add_argument("--vllm-port", type=int, help="--engine vllm: the port of the server evalkit starts "
                                                   "(default: a free one)")
    ap.add_argument("--vllm-args", type=shlex.split, metavar="'ARGS'",
                    help="--engine vllm: more arguments for the server evalkit starts, e.g. "
                         "'--tensor-parallel-size 2'")
    ap.add_argument("--device", default="auto", help="auto (cuda when available, else cpu) | cpu | cuda | cuda:N")
    ap.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float32"],
                    help="auto: bf16 on GPUs and CPUs with avx512_bf16/AMX, else fp32 (the reason is printed)")
    ap.add_argument("--out", type=Path, help="output folder (default: runs/eval/<adapter or base>-<split>)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    ap.add_argument("--json", action="store_true",
                    help="end with summary.json's main keys as JSON (for scripts) instead of the short summary")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m evalkit",
                                 description="Evaluate a model on an ARC split, or score a submission. "
                                             "Without a command, the options go to `run` "
                                             "(python -m evalkit run --help lists them).")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="predict, select two attempts and score every test output of an ARC split "
                                   "(resumable)")
    add_run_options(p)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("score", help="score a Kaggle-format submission by the official ARC rule")
    p.add_argument("--predictions", type=Path, required=True, help='{task_id: [{"attempt_1": grid, ...}, ...]}')
    p.add_argument("--solutions", type=Path, required=True, help="{task_id: [grid, ...]}")
    p.set_defaults(func=cmd_score)
    return ap


def request_from_args(args: argparse.Namespace) -> EvalRequest:
    return EvalRequest(split=args.split, adapter=args.adapter, adapter_per_task=args.adapter_per_task, base=args.base,
                       tasks=args.tasks, limit=args.limit,
                       augmentations=args.augmentations, select=args.select, batch_size=args.batch_size,
                       max_new_tokens=args.max_new_tokens, max_prompt_tokens=args.max_prompt_tokens,
                       stop_past_truth=args.stop_past_truth, dfs=args.dfs, dfs_max=args.dfs_max,
                       score_views=args.score_views, engine=args.engine, vllm_url=args.vllm_url,
                       vllm_port=args.vllm_port, vllm_args=args.vllm_args, device=args.device, dtype=args.dtype, out=args.out,
                       seed=args.seed, progress=not args.quiet)


def cmd_run(args: argparse.Namespace) -> int:
    from evalkit.evaluator import evaluate_split

    summary, out = evaluate_split(request_from_args(args))
    if summary is None:  # a shard of a sharded run: the main process prints the merged result
        return 0
    if args.json:
        print(json.dumps({k: summary.get(k) for k in SUMMARY_KEYS}, indent=2))
        print(f"report: {out / 'report.html'}")
        return 0
    from evalkit.console import summary_lines

    print("\n".join(summary_lines(summary, str(out / "report.html"))))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from evalkit.scoring import score_submission

    solutions = read_json(args.solutions)
    if not isinstance(solutions, dict):
        raise UserError(f"{args.solutions}: expected {{task_id: [grid, ...]}}")
    summary, problems = score_submission(read_json(args.predictions), solutions)
    for problem in problems:
        print(f"{args.predictions}: {problem}", file=sys.stderr)
    print(json.dumps(summary, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    silence_known_noise()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv.insert(0, "run")  # the flag-only form: python -m evalkit --adapter out/ --split eval
    return dispatch(parser(), argv, "interrupted: finished tasks are kept; run the same command to resume")


if __name__ == "__main__":
    sys.exit(main())
