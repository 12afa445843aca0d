"""The one error type users see: a one-line message naming the bad input and what is allowed."""


class PipelineError(Exception):
    """Bad input (params, data, weights): reported as one line, never as a traceback."""
