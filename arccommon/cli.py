"""Helpers shared by every command line (arcprep, recipes, evalkit, experiments)."""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from arccommon.errors import UserError


def csv_list(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]`` (argparse type for comma lists)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def run_command(command: Callable[[], int], interrupted: str) -> int:
    """Run a CLI command: user errors become lines on stderr (exit 2), Ctrl-C prints ``interrupted`` (exit 130)."""
    try:
        return command()
    except UserError as exc:
        print(f"error: {exc}" if "\n" not in str(exc) else str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130


def dispatch(parser: argparse.ArgumentParser, argv: list[str] | None, interrupted: str) -> int:
    """Parse ``argv`` with a parser whose subcommands set ``func``, and run that command via :func:`run_command`."""
    args = parser.parse_args(argv)
    return run_command(lambda: args.func(args), interrupted)
