"""Command line: ``python -m recipes {check,train,prior,model} ...`` (``--help`` on each)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from arccommon.cli import dispatch
from arccommon.paths import EMBEDDED_MODEL_DIR, PRIOR_DIRS


def cmd_check(args: argparse.Namespace) -> int:
    from recipes.check import check_recipe

    bad = 0
    for recipe in args.recipes:
        problems = check_recipe(recipe, root=args.root, for_training=args.for_training)
        for problem in problems:
            print(f"{recipe}: {problem}", file=sys.stderr)
        if not problems:
            print(f"ok: {recipe}")
        bad += bool(problems)
    return 1 if bad else 0


def cmd_train(args: argparse.Namespace) -> int:
    from arccommon.cli import VERBOSE_ENV, verbose
    from recipes.check import load_recipe
    from recipes.launch import output_dir, parse_overrides, train

    overrides = parse_overrides(args.set or [])
    if args.verbose:
        os.environ[VERBOSE_ENV] = "1"
    log, recipe = None, {**load_recipe(args.recipe), **overrides}
    if not verbose() and not args.dry_run and recipe.get("output_dir"):  # else the checks name what is wrong
        log = output_dir(recipe, args.root) / "train.log"  # Axolotl's config dump, warnings and step dicts
        print(f"Axolotl's output: {log} (--verbose shows it here)", file=sys.stderr)
    out = train(args.recipe, overrides, root=args.root, dry_run=args.dry_run, mixed_precision=args.mixed_precision,
                processes=args.num_processes, log=log, label=args.recipe.stem)
    print(f"adapter: {out}")
    return 0


def cmd_prior(args: argparse.Namespace) -> int:
    from recipes.check import load_recipe
    from recipes.launch import output_dir, train
    from recipes.prior import PRIORS, prior_problem, ship

    prior = PRIORS[args.name]
    if args.status:
        problem = prior_problem(prior.dest, args.root)
        print(problem or f"{prior.dest}: up to date with {prior.recipe}, its dataset and what it continues")
        return 1 if problem else 0
    out = output_dir(load_recipe(args.root / prior.recipe), args.root)
    if not args.ship_only:
        print(f"training {prior.recipe} (resumes from its last checkpoint; Axolotl's output: {out / 'train.log'})",
              file=sys.stderr)
        train(prior.recipe, root=args.root, log=out / "train.log", label=prior.name)
    manifest = ship(out, prior.recipe, prior.dest, args.root)
    print(f"{prior.dest}: {manifest['steps']} steps, {manifest['tokens_seen']:,} tokens, "
          f"{manifest['trainer_seconds']:.0f} s in the trainer; loss {manifest['first_loss_mean_first_20']:.3f} -> "
          f"{manifest['final_loss_mean_last_20']:.3f} (means of the first and last 20 steps); manifest.json and loss.png beside it")
    return 0


def cmd_model(args: argparse.Namespace) -> int:
    from recipes.basemodel import is_materialised, materialise

    if is_materialised(args.out) and not args.force:
        print(f"{args.out}: already there")
        return 0
    from arccommon.noise import silence_known_noise, third_party_output

    silence_known_noise()
    os.environ.setdefault("DS_ACCELERATOR", "cpu")  # conversion runs on the CPU: no accelerator detection notice
    start = time.perf_counter()
    log = args.out.parent / f"{args.out.name}.convert.log"
    with third_party_output(log):
        materialise(args.out, dtype=args.dtype, force=args.force)
    print(f"{args.out}: converted in {time.perf_counter() - start:.1f}s (third-party output: {log})")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """The check, train, prior and model subcommands (also reachable as ``python -m arcprep check|train|model``)."""
    p = sub.add_parser("check", help="check recipes against the recipe schema, Axolotl's keys and their datasets")
    p.add_argument("recipes", nargs="+", type=Path)
    p.add_argument("--root", type=Path, default=Path("."), help="folder the recipe's paths are relative to")
    p.add_argument("--for-training", action="store_true", help="also require outputs of earlier stages")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("train", help="check a recipe, then train it with Axolotl (resumes from its last checkpoint)")
    p.add_argument("recipe", type=Path)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a recipe key (repeatable)")
    p.add_argument("--root", type=Path, default=Path("."), help="folder the recipe's paths are relative to")
    p.add_argument("--dry-run", action="store_true", help="check and print the command, do not train")
    p.add_argument("--verbose", action="store_true",
                   help="show Axolotl's own output here instead of OUTPUT_DIR/train.log (or set ARC_VERBOSE=1)")
    p.add_argument("--mixed-precision", default="auto", choices=["auto", "no", "bf16"],
                   help="train_device: cpu recipes only. auto: bf16 autocast on CPUs with avx512_bf16/AMX, "
                        "else fp32 (the decision and its reason are printed)")
    p.add_argument("--num-processes", type=int, default=1, metavar="N",
                   help="data-parallel processes (DDP through accelerate's launcher), one per GPU; the effective "
                        "batch grows N times. GPU recipes only: Axolotl 0.19 cannot run DDP on a CPU")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("prior", help="train a broad prior (recipes/smollm2_cpu_prior.yml, or prior2's second pass; "
                                      "resumes), then ship it to models/ with its manifest and loss curve")
    p.add_argument("--name", default="prior", choices=list(PRIOR_DIRS),
                   help="prior: the first pass over every ARC-1 train task; prior2: a second pass over fresh views, "
                        "continuing the shipped prior (recipes/smollm2_cpu_prior2.yml)")
    p.add_argument("--root", type=Path, default=Path("."), help="repository root")
    p.add_argument("--ship-only", action="store_true", help="ship the finished training without training")
    p.add_argument("--status", action="store_true",
                   help="say whether the shipped prior matches its recipe and dataset (exit 1 when not)")
    p.set_defaults(func=cmd_prior)

    p = sub.add_parser("model", help="convert the embedded SmolLM2-135M-Instruct GGUF to a local model folder")
    p.add_argument("--out", type=Path, default=EMBEDDED_MODEL_DIR)
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=cmd_model)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m recipes",
                                 description="Check and train Axolotl recipes; convert the embedded base model.")
    add_commands(ap.add_subparsers(dest="command", required=True))
    return ap


def main(argv: list[str] | None = None) -> int:
    return dispatch(parser(), argv, "interrupted; no partial output was left")


if __name__ == "__main__":
    sys.exit(main())
