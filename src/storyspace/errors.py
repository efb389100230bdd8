"""The one exception type that reaches users as a one-line message (exit code 2)."""


class UserError(Exception):
    """Bad input or an unusable resource; ``str(error)`` is the whole message."""
