"""Where a stage's time goes: the library times its costly calls as named phases — `train` (Keras
fit), `convert` (TFLite conversions), `bench` (the interleaved latency rounds) — and the stage's
timing file (`reports/timings/<stage>.json`) holds them next to `startup` (process start to the
stage's work: the interpreter, TensorFlow's import) and `other` (loading, scoring, writing).

Totals are per thread (the Prefect flow runs stages in threads); a phase inside the same phase
(an in-process conversion inside `in_processes`) counts once. Pure Python, no TensorFlow.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator

PHASES = ("startup", "train", "convert", "bench", "other")
_local = threading.local()


def _state() -> tuple[dict[str, float], set[str]]:
    if not hasattr(_local, "totals"):
        _local.totals, _local.open = {}, set()
    return _local.totals, _local.open


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Add the block's wall seconds to this thread's total for `name` (once, when nested in itself)."""
    totals, open_ = _state()
    if name in open_:
        yield
        return
    open_.add(name)
    start = time.perf_counter()
    try:
        yield
    finally:
        open_.discard(name)
        totals[name] = totals.get(name, 0.0) + time.perf_counter() - start


def take() -> dict[str, float]:
    """This thread's phase totals since the last call (then reset)."""
    totals, _ = _state()
    taken = dict(totals)
    totals.clear()
    return taken


def breakdown(seconds: float, startup: float, timed: dict[str, float]) -> dict[str, float]:
    """A stage's phases in seconds: `startup`, the timed phases, and `other` (the rest of `seconds`, the
    stage's own wall time after its start-up)."""
    parts = {"startup": startup, **{name: timed.get(name, 0.0) for name in PHASES[1:-1]}}
    parts["other"] = max(0.0, seconds - sum(timed.get(name, 0.0) for name in PHASES[1:-1]))
    return {name: round(value, 3) for name, value in parts.items()}


def process_age_s() -> float | None:
    """Seconds since this process started (Linux's /proc), or None where that cannot be read."""
    try:
        with open("/proc/self/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as uptime:
            up = float(uptime.read().split()[0])
        return max(0.0, up - int(fields[19]) / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None
