"""``python -m evalkit --adapter out/ --split eval`` and ``python -m evalkit score --predictions P --solutions S``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from arcprep.errors import ArcPrepError, run_command


def _csv(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def predict_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m evalkit",
                                 description="Predict, vote and score every test output of an ARC split. "
                                             "(Also: python -m evalkit score --help)")
    ap.add_argument("--adapter", type=Path, help="LoRA adapter folder (its base model is read from it)")
    ap.add_argument("--base", help="base model folder or id; alone: score the base model without an adapter")
    ap.add_argument("--split", default="eval", help="train | eval | test | any arcprep source")
    ap.add_argument("--tasks", type=_csv, help="only these task ids (comma list)")
    ap.add_argument("--limit", type=int, help="only the first N tasks")
    ap.add_argument("--attempts", type=int, default=2)
    ap.add_argument("--augmentations", type=int, default=1, help="predictions per test input (1 = plain greedy)")
    ap.add_argument("--batch-size", type=int,
                    help="prompts generated together (default: 8 on a GPU; 1 on a CPU, where padded batches measured "
                         "slower: bench/generation.py)")
    ap.add_argument("--max-new-tokens", type=int, help="cap per answer (default: the largest 30x30 grid)")
    ap.add_argument("--max-prompt-tokens", type=int, default=6000, help="drop train pairs past this prompt length")
    ap.add_argument("--stop-past-truth", action="store_true",
                    help="scoring only: stop each batch past its longest true answer + newline + end of turn (scores "
                         "unchanged: longer answers are wrong anyway; attempts in predictions.json may be cut short)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float32"],
                    help="auto: bf16 on GPUs and CPUs with bf16 instructions, else fp32")
    ap.add_argument("--out", type=Path, help="output folder (default: runs/eval/<adapter or base>-<split>)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    return ap


def score_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m evalkit score",
                                 description="Score a Kaggle-format submission by the official ARC rule.")
    ap.add_argument("--predictions", type=Path, required=True, help='{task_id: [{"attempt_1": grid, ...}, ...]}')
    ap.add_argument("--solutions", type=Path, required=True, help="{task_id: [grid, ...]}")
    return ap


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArcPrepError(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise ArcPrepError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


def cmd_score(argv: list[str]) -> int:
    from evalkit.scoring import score_submission

    args = score_parser().parse_args(argv)
    solutions = _read_json(args.solutions)
    if not isinstance(solutions, dict):
        raise ArcPrepError(f"{args.solutions}: expected {{task_id: [grid, ...]}}")
    summary, problems = score_submission(_read_json(args.predictions), solutions)
    for problem in problems:
        print(f"{args.predictions}: {problem}", file=sys.stderr)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_predict(argv: list[str]) -> int:
    from arcprep.encoding import max_answer_chars
    from evalkit.hf_predictor import HFPredictor
    from evalkit.model import load_model, prompt_settings, resolve_base
    from evalkit.report import write_report
    from evalkit.run import EvalConfig, evaluate, select

    args = predict_parser().parse_args(argv)
    if args.adapter is not None and not args.adapter.is_dir():
        raise ArcPrepError(f"{args.adapter}: no such adapter folder")
    base = resolve_base(args.adapter, args.base)
    tasks = select(args.split, args.tasks, args.limit)
    settings = prompt_settings(args.adapter)
    max_new = args.max_new_tokens or max_answer_chars(settings.encoding) + 1
    cfg = EvalConfig(args.split, str(args.adapter) if args.adapter else None, base, args.attempts,
                     args.augmentations, args.seed, max_new, settings.encoding, settings.system_prompt,
                     args.stop_past_truth)
    name = (args.adapter.name if args.adapter else Path(base).name) + "-" + args.split.replace("/", "_")
    out = args.out or Path("runs/eval") / name
    model, tokenizer = load_model(base, args.adapter, args.device, args.dtype)
    batch = args.batch_size or (1 if args.device.startswith("cpu") else 8)
    predictor = HFPredictor(model, tokenizer, batch, max_new)
    summary = evaluate(cfg, tasks, predictor, out, settings, batch_tasks=max(4, batch),
                       count=predictor.count, max_prompt_tokens=args.max_prompt_tokens, progress=not args.quiet)
    write_report(out, tasks)
    keys = ["score", "output_accuracy", "n_tasks", "n_outputs", "pass_at_1", "shape_accuracy",
            "oracle_pass_at_n", "unparseable_candidates", "tokens_per_s", "wall_s"]
    print(json.dumps({k: summary.get(k) for k in keys}, indent=2))
    print(f"report: {out / 'report.html'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = (lambda: cmd_score(argv[1:])) if argv and argv[0] == "score" else (lambda: cmd_predict(argv))
    return run_command(command, "interrupted: finished tasks are kept; run the same command to resume")


if __name__ == "__main__":
    sys.exit(main())
