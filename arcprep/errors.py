"""User-facing errors: reported as one line, never as a traceback."""

from typing import Callable


class ArcPrepError(Exception):
    """An error caused by the user's input (a file, a task, a flag), shown as one line."""


def where(path: object, task_id: str | None = None) -> str:
    """Format the location prefix used in every one-line error: ``file[:task]``."""
    return f"{path}:{task_id}" if task_id else f"{path}"


def run_command(command: Callable[[], int], interrupted: str) -> int:
    """Run a CLI command: user errors become one line on stderr (exit 2), Ctrl-C prints ``interrupted`` (exit 130)."""
    import sys

    try:
        return command()
    except ArcPrepError as exc:
        print(f"error: {exc}" if "\n" not in str(exc) else str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130
