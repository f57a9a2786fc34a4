"""User-facing errors: reported as one line, never as a traceback."""


class ArcPrepError(Exception):
    """An error caused by the user's input (a file, a task, a flag), shown as one line."""


def where(path: object, task_id: str | None = None) -> str:
    """Format the location prefix used in every one-line error: ``file[:task]``."""
    return f"{path}:{task_id}" if task_id else f"{path}"
