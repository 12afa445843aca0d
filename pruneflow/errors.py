"""The one error type users see: a one-line message naming the bad input and what is allowed."""


class PipelineError(Exception):
    """Bad input (params, data, weights): reported as one line, never as a traceback."""


def require(path, producer: str):
    """Return `path` if it exists, else fail naming the stage that writes it."""
    if not path.exists():
        raise PipelineError(f"{path}: missing; run `python -m pruneflow {producer}` (or `dvc repro`) first")
    return path
