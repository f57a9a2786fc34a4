"""Command line: ``python -m arcprep {validate,leakage,build,data} ...`` (``--help`` on each).

``check``, ``train`` and ``model`` belong to ``python -m recipes``; the old forms here still work.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from arccommon.cli import csv_list, dispatch
from arccommon.errors import UserError
from arccommon.paths import EMBEDDED_MODEL_DIR
from arcprep.prompt import PROMPT_FORMATS
from arcprep.spec import DEFAULT_SPEC


def cmd_validate(args: argparse.Namespace) -> int:
    from arcprep.sources import load_source

    bad = 0
    for source in args.sources:
        try:
            loaded = load_source(source, require_test_outputs=args.require_outputs)
            print(f"ok: {source}: {len(loaded.tasks)} tasks")
        except UserError as exc:
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
    p.add_argument("--augment", type=csv_list, default=[], help="comma list of: dihedral,color,swap,shuffle")
    p.add_argument("--copies", type=int, default=1,
                   help="augmented copies per query: test output, or held-out pair (copy 0 is the original)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--encoding", default="plain", help="grid text encoding: plain | shape")
    p.add_argument("--prompt-format", default="single", choices=PROMPT_FORMATS,
                   help="single: one user turn, loss on the test output only; multiturn: a user/assistant turn "
                        "per demonstration pair, loss on every output grid")
    p.add_argument("--leave-one-out", action="store_true",
                   help="each demonstration pair in turn is the query, the others its examples (test outputs are "
                        "never read; tasks with one pair are skipped): test-time training data")
    p.add_argument("--no-original", dest="keep_original", action="store_false",
                   help="augment copy 0 too (by default copy 0 is the unaugmented task)")
    p.add_argument("--swap-prob", type=float, default=0.5, help="chance a copy swaps a train pair with the test pair")
    p.add_argument("--keep-background-prob", type=float, default=1.0, help="chance a colour permutation keeps 0 fixed")
    p.add_argument("--max-tokens", type=int, help="token budget per sample (needs --tokenizer)")
    p.add_argument("--tokenizer", help=f"tokenizer folder for token counts, e.g. {EMBEDDED_MODEL_DIR}")
    p.add_argument("--tasks", type=csv_list, help="only these task ids (comma list)")
    p.add_argument("--limit", type=int, help="only the first N tasks (sorted by id)")
    p.add_argument("--max-side", type=int, help="only tasks whose grids are all at most this many rows/cols")
    p.add_argument("--exclude-leaked-from", help="drop tasks sharing any grid with this source")
    p.add_argument("--skip-invalid", action="store_true", help="skip invalid tasks (listed) instead of failing")


def cmd_build(args: argparse.Namespace) -> int:
    from arcprep.build import BuildConfig, build_dataset
    from arcprep.writer import manifest_path

    fields = {k: getattr(args, k) for k in (
        "source", "augment", "copies", "seed", "encoding", "prompt_format", "leave_one_out", "keep_original",
        "swap_prob", "keep_background_prob", "max_tokens", "tokenizer", "tasks", "limit", "max_side",
        "exclude_leaked_from", "skip_invalid")}
    start = time.perf_counter()
    manifest = build_dataset(BuildConfig(**fields), args.out, progress=not args.quiet)
    _report(args.out, manifest, time.perf_counter() - start)
    for line in manifest.get("skipped_invalid", []):
        print(f"skipped: {line}", file=sys.stderr)
    single = (manifest.get("leave_one_out") or {}).get("skipped_single_pair_tasks") or []
    if single:
        print(f"leave-one-out skipped {len(single)} task(s) with one demonstration pair: {', '.join(single)}",
              file=sys.stderr)
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
            raise UserError(f"{args.spec}: no dataset named {name}")
        cfg, out = configs[name], outputs[name]
        if is_up_to_date(cfg, out) and not args.force:
            print(f"{out}: up to date")
            continue
        start = time.perf_counter()
        _report(out, build_any(cfg, out, progress=not args.quiet), time.perf_counter() - start)
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
    p.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    p.add_argument("--only", type=csv_list, help="only these dataset names (comma list)")
    p.add_argument("--force", action="store_true", help="rebuild even if up to date")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_data)

    from recipes.__main__ import add_commands

    add_commands(sub)  # check, train, model: moved to python -m recipes, forwarded here
    return ap


def main(argv: list[str] | None = None) -> int:
    return dispatch(parser(), argv, "interrupted; no partial output was left")


if __name__ == "__main__":
    sys.exit(main())
