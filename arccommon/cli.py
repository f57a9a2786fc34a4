"""Helpers shared by every command line (arcprep, recipes, evalkit, experiments)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable

from arccommon.errors import UserError


VERBOSE_ENV = "ARC_VERBOSE"  # 1: third-party output (Axolotl's config and step logs, warnings) on the console too


def verbose() -> bool:
    """Whether long steps show everything on the console instead of writing it to their log file."""
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def csv_list(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]`` (argparse type for comma lists)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def run_command(command: Callable[[], int], interrupted: str) -> int:
    """Run a CLI command: user errors, and OS errors naming a path, become one line on stderr (exit 2); Ctrl-C
    prints ``interrupted`` (exit 130)."""
    try:
        return command()
    except UserError as exc:
        print(f"error: {exc}" if "\n" not in str(exc) else str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130
    except OSError as exc:  # a path the user named that cannot be made, read or written: one line naming it
        if exc.filename is None:
            raise
        print(f"error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return 2


def dispatch(parser: argparse.ArgumentParser, argv: list[str] | None, interrupted: str) -> int:
    """Parse ``argv`` with a parser whose subcommands set ``func``, and run that command via :func:`run_command`."""
    args = parser.parse_args(argv)
    return run_command(lambda: args.func(args), interrupted)
