"""The one error type users see: a one-line message naming the bad input and what is allowed."""

import sys
from collections.abc import Callable


class PipelineError(Exception):
    """Bad input (params, data, weights): reported as one line, never as a traceback."""


def require(path, producer: str):
    """Return `path` if it exists, else fail naming the stage that writes it."""
    if not path.exists():
        raise PipelineError(f"{path}: missing; run `python -m pruneflow {producer}` (or `dvc repro`) first")
    return path


def command(action: Callable[[], str]) -> int:
    """Run a command-line tool's action: print the line it returns (exit 0), or its PipelineError as
    one line on stderr (exit 2), never a traceback."""
    try:
        line = action()
    except PipelineError as exc:
        print(f"pruneflow: error: {exc}", file=sys.stderr)
        return 2
    print(line)
    return 0
