"""The exception types that reach users as a one-line message."""


class UserError(Exception):
    """Bad input or an unusable resource; ``str(error)`` is the whole message (exit code 2)."""


class BackendError(UserError):
    """A model server failed (unreachable, timing out, erroring) after the retries (exit code 1).

    Work finished before it is on disk: an explore run continues with ``--resume DIR``."""


class Interrupted(Exception):
    """Ctrl-C during a command; ``str(error)`` says where the work saved so far is (exit 130)."""
