"""The ``storyspace`` console script, the only package that prints.

``parser`` builds every command's flags from the config fields that declare them, ``commands``
runs the commands, ``progress`` is the one progress display. Bad input ends with one line on
stderr (``storyspace: error: ...``) and exit code 2; a model server that fails after its retries
with exit code 1 (the work saved so far resumes); Ctrl-C with exit code 130 and where the work is.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Sequence

from storyspace.errors import BackendError, Interrupted, UserError

EXIT_USAGE = 2
EXIT_BACKEND = 1
EXIT_INTERRUPTED = 130


def plain(message: str) -> str:
    """A message as one printable line (a path or a premise may hold newlines or escapes)."""
    from storyspace.story import printable

    return " ".join(printable(message).split())


def quiet_libraries() -> None:
    """Offline, and no library chatter on the terminal."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    try:
        from storyspace.cli.commands import COMMANDS
        from storyspace.cli.parser import build_parser

        args = build_parser().parse_args(argv)
        quiet_libraries()
        return COMMANDS[args.command](args)
    except BackendError as exc:
        print(f"storyspace: error: {plain(str(exc))}", file=sys.stderr)
        return EXIT_BACKEND
    except UserError as exc:
        print(f"storyspace: error: {plain(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except Interrupted as exc:
        print(f"storyspace: {plain(str(exc))}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("storyspace: interrupted (what was finished is saved; re-run the command or --resume to go on)",
              file=sys.stderr)
        return EXIT_INTERRUPTED
