"""Command line: ``python -m arcprep {validate,leakage,build,data,check,train,model} ...`` (``--help`` on each)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from arcprep.errors import ArcPrepError, run_command


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def cmd_validate(args: argparse.Namespace) -> int:
    from arcprep.sources import load_source

    bad = 0
    for source in args.sources:
        try:
            loaded = load_source(source, require_test_outputs=args.require_outputs)
            print(f"ok: {source}: {len(loaded.tasks)} tasks")
        except ArcPrepError as exc:
            bad += 1
            print(exc, file=sys.stderr)
    return 1 if bad else 0


def cmd_leakage(args: argparse.Namespace) -> int:
    from arcprep.leakage import leaked_tasks
    from arcprep.sources import load_source

    reference = load_source(args.a, skip_invalid=True).tasks
    candidates = load_source(args.b, skip_invalid=True).tasks
    leaks = leaked_tasks(reference, candidates, min_cells=args.min_cells)
    if args.json:
        print(json.dumps(leaks, indent=2, sort_keys=True))
    else:
        for tid, refs in sorted(leaks.items()):
            print(f"{tid}\tshares grids with {', '.join(refs)}")
        print(f"{len(leaks)} of {len(candidates)} tasks of {args.b} share a grid with {args.a}", file=sys.stderr)
    return 0


def _add_build_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", required=True, help="train | eval | test | arc1/train ... | file | folder (join with +)")
    p.add_argument("--augment", type=_csv, default=[], help="comma list of: dihedral,color,swap,shuffle")
    p.add_argument("--copies", type=int, default=1, help="augmented copies per test output (copy 0 is the original)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--encoding", default="plain", help="grid text encoding: plain | shape")
    p.add_argument("--no-original", dest="keep_original", action="store_false",
                   help="augment copy 0 too (by default copy 0 is the unaugmented task)")
    p.add_argument("--swap-prob", type=float, default=0.5, help="chance a copy swaps a train pair with the test pair")
    p.add_argument("--keep-background-prob", type=float, default=1.0, help="chance a colour permutation keeps 0 fixed")
    p.add_argument("--max-tokens", type=int, help="token budget per sample (needs --tokenizer)")
    p.add_argument("--tokenizer", help="tokenizer folder for token counts, e.g. models/smollm2-135m-instruct")
    p.add_argument("--tasks", type=_csv, help="only these task ids (comma list)")
    p.add_argument("--limit", type=int, help="only the first N tasks (sorted by id)")
    p.add_argument("--max-side", type=int, help="only tasks whose grids are all at most this many rows/cols")
    p.add_argument("--exclude-leaked-from", help="drop tasks sharing any grid with this source")
    p.add_argument("--skip-invalid", action="store_true", help="skip invalid tasks (listed) instead of failing")


def cmd_build(args: argparse.Namespace) -> int:
    from arcprep.build import BuildConfig, build_dataset, manifest_path

    fields = {k: getattr(args, k) for k in (
        "source", "augment", "copies", "seed", "encoding", "keep_original", "swap_prob", "keep_background_prob",
        "max_tokens", "tokenizer", "tasks", "limit", "max_side", "exclude_leaked_from", "skip_invalid")}
    start = time.perf_counter()
    manifest = build_dataset(BuildConfig(**fields), args.out, progress=not args.quiet)
    _report(args.out, manifest, time.perf_counter() - start)
    for line in manifest.get("skipped_invalid", []):
        print(f"skipped: {line}", file=sys.stderr)
    print(f"manifest: {manifest_path(args.out)}")
    return 0


def _report(out: Path, manifest: dict, seconds: float) -> None:
    tokens = manifest.get("tokens") or {}
    extra = f", tokens median {tokens['median']} max {tokens['max']}" if tokens else ""
    origin = f"from {manifest['tasks']} tasks" if "tasks" in manifest else f"({manifest.get('kind')})"
    print(f"{out}: {manifest['samples']} samples {origin} in {seconds:.1f}s "
          f"({manifest['samples'] / max(seconds, 1e-9):.0f} samples/s){extra}; "
          f"trimmed {manifest.get('trimmed_samples', 0)}, dropped {manifest['dropped_samples']}")


def cmd_data(args: argparse.Namespace) -> int:
    from arcprep.spec import build_any, is_up_to_date, load_spec, spec_outputs

    configs = load_spec(args.spec)
    outputs = spec_outputs(args.spec, configs)
    names = args.only or list(configs)
    for name in names:
        if name not in configs:
            raise ArcPrepError(f"{args.spec}: no dataset named {name}")
        cfg, out = configs[name], outputs[name]
        if is_up_to_date(cfg, out) and not args.force:
            print(f"{out}: up to date")
            continue
        start = time.perf_counter()
        _report(out, build_any(cfg, out, progress=not args.quiet), time.perf_counter() - start)
    return 0


def cmd_model(args: argparse.Namespace) -> int:
    from arcprep.model import is_materialised, materialise

    if is_materialised(args.out) and not args.force:
        print(f"{args.out}: already there")
        return 0
    start = time.perf_counter()
    materialise(args.out, dtype=args.dtype, force=args.force)
    print(f"{args.out}: converted in {time.perf_counter() - start:.1f}s")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from arcprep.recipe_check import check_recipe

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
    from arcprep.train import parse_overrides, train

    out = train(args.recipe, parse_overrides(args.set or []), root=args.root, dry_run=args.dry_run,
                mixed_precision=args.mixed_precision)
    print(f"adapter: {out}")
    return 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m arcprep", description="ARC tasks -> validated, augmented chat JSONL.")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check task files; one line per problem")
    p.add_argument("sources", nargs="+", help="files, folders or split names")
    p.add_argument("--require-outputs", action="store_true", help="test pairs must have outputs (scored splits)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("leakage", help="list task ids of B sharing any grid (by content) with A")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--min-cells", type=int, default=1, help="ignore grids smaller than this many cells")
    p.add_argument("--json", action="store_true", help="print {task_id: [ids in A]} as JSON")
    p.set_defaults(func=cmd_leakage)

    p = sub.add_parser("build", help="build one dataset (JSONL + manifest)")
    _add_build_options(p)
    p.add_argument("--out", type=Path, required=True, help="output JSONL, e.g. data/NAME.jsonl")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("data", help="build every dataset of the data spec (skips up-to-date ones)")
    p.add_argument("--spec", type=Path, default=Path("data/spec.yml"))
    p.add_argument("--only", type=_csv, help="only these dataset names (comma list)")
    p.add_argument("--force", action="store_true", help="rebuild even if up to date")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("check", help="check recipes against the recipe schema and the datasets they name")
    p.add_argument("recipes", nargs="+", type=Path)
    p.add_argument("--root", type=Path, default=Path("."), help="folder the recipe's paths are relative to")
    p.add_argument("--for-training", action="store_true", help="also require outputs of earlier stages")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("train", help="check a recipe, then train it with Axolotl (resumes from its last checkpoint)")
    p.add_argument("recipe", type=Path)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a recipe key (repeatable)")
    p.add_argument("--root", type=Path, default=Path("."), help="folder the recipe's paths are relative to")
    p.add_argument("--dry-run", action="store_true", help="check and print the command, do not train")
    p.add_argument("--mixed-precision", default="no", choices=["no", "bf16"],
                   help="CPU recipes only: accelerate's autocast (default fp32, faster for LoRA on CPU here)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("model", help="convert the embedded SmolLM2-135M-Instruct GGUF to a local model folder")
    p.add_argument("--out", type=Path, default=Path("models/smollm2-135m-instruct"))
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=cmd_model)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return run_command(lambda: args.func(args), "interrupted; no partial output was left")


if __name__ == "__main__":
    sys.exit(main())
