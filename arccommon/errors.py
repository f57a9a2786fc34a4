"""The one user-error type of every package: an error caused by the user's input, reported as one line."""


class UserError(Exception):
    """An error caused by the user's input (a file, a task, a key, a flag), shown as one line, never a traceback."""
