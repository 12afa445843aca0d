"""What a user sees on the console: the stages' own lines, Keras' epoch lines, real errors — not
TensorFlow's start-up chatter — and one summary line per stage.

TensorFlow's C++ runtime writes to file descriptor 2 directly, before Python or absl logging could
be configured, and so do the processes a stage starts (TFLite conversions in `in_processes`); the
lines below are printed on every run, identically, and a user can do nothing about them. The entry
points (`python -m pruneflow <stage>`, `python -m flows.pipeline`) run inside `clean_stderr()`: fd 2
becomes a pipe to a small helper process that forwards every line except those matching NOISE. A
helper process (not a thread) because a crashing TensorFlow (abort, out-of-memory kill) must still
get its last words out: the kernel keeps what is in the pipe, and the helper drains it to the end.
Python tracebacks, `pruneflow: error:` lines and any unknown message pass through unchanged.
PRUNEFLOW_TF_LOGS=1 turns the filter off and TensorFlow's C++ INFO/WARNING logs on.

Only the entry points use this module; no stage imports it, so editing it reruns no DVC stage.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

SHOW_ALL = "PRUNEFLOW_TF_LOGS"  # =1: every line, TensorFlow's C++ INFO logs included

# Each pattern is searched in one line of fd 2 (C++ log lines carry a prefix such as
# `E0000 00:00:1796060671.904828   15201 cuda_platform.cc:52] `). "seen" ones were printed by every run
# of the pipeline on a CPU-only machine (TensorFlow 2.21, ai-edge-litert 2.3); the others are TensorFlow's
# known start-up lines on CUDA machines.
NOISE: tuple[tuple[str, re.Pattern[str]], ...] = tuple((why, re.compile(pattern)) for why, pattern in (
    # seen: absl's notice that early log lines go to stderr, printed on each TensorFlow load
    ("absl pre-init notice", r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"),
    ("absl pre-init notice (older)", r"^WARNING: Logging before InitGoogleLogging\(\) is written to STDERR$"),
    # seen: oneDNN's round-off notice, printed before TF_CPP_MIN_LOG_LEVEL applies
    ("oneDNN notice", r"oneDNN custom operations are on\. You may see slightly different numerical results"),
    # seen: no GPU on this machine (the pipeline runs on CPU; nothing to fix)
    ("no CUDA driver", r"Could not find cuda drivers on your machine, GPU will not be used"),
    ("cuInit failed", r"failed call to cuInit: "),
    # seen: tf.data graphs built by a newer TensorFlow than the runtime; the attribute is ignored
    ("tf.data NodeDef attribute", r"NodeDef mentions attribute use_unbounded_threadpool which is not in the op definition"),
    # seen: the TFLite interpreter announcing its default CPU delegate (bench records the delegate itself)
    ("XNNPACK delegate notice", r"^INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.$"),
    ("TFLite runtime notice", r"^INFO: Initialized TensorFlow Lite runtime\.$"),
    # seen: the TFLite quantizer's debug print of its settings during int8 conversion
    ("TFLite quantizer settings", r"^fully_quantize: \d+, inference_type: \d+, input_inference_type: \w+, "
                                  r"output_inference_type: \w+$"),
    # seen: TFLite's converter warning on every int8 export without input statistics (inputs stay float)
    ("TFLite input statistics warning", r"UserWarning: Statistics for quantized inputs were expected, but not "
                                        r"specified; continuing anyway\."),
    # CUDA builds: CPU instruction advice, duplicate plugin registration, TensorRT absence
    ("CPU instructions advice", r"This TensorFlow binary is optimized to use available CPU instructions"),
    ("CPU instructions advice", r"To enable the following instructions: .*rebuild TensorFlow with the appropriate "
                                r"compiler flags"),
    ("CUDA plugin registration", r"Unable to register (cuDNN|cuFFT|cuBLAS) factory: Attempting to register factory "
                                 r"for plugin \w+ when one has already been registered"),
    ("CUDA plugin registration", r"computation placer already registered\. Please check linkage"),
    ("TensorRT absent", r"TF-TRT Warning: Could not find TensorRT"),
    ("NUMA notice", r"successful NUMA node read from SysFS had negative value"),
    ("NUMA notice", r"Your kernel may have been built without NUMA support"),
))

# A Python warning prints its header line (`file.py:846: UserWarning: ...`) and then the source line
# that raised it, indented; when the header is noise, so is that line.
_WARNING_HEADER = re.compile(r"^\S.*:\d+: \w*Warning: ")


def is_noise(line: str) -> bool:
    """Whether one line of stderr (without or with its newline) matches a NOISE pattern."""
    text = line.rstrip("\r\n")
    return any(pattern.search(text) for _, pattern in NOISE)


def keep_lines(lines: Iterable[str]) -> Iterator[str]:
    """The lines a user should see: all but NOISE, and the indented source line after a noise warning."""
    dropped_warning = False
    for line in lines:
        if dropped_warning and line[:1] in (" ", "\t"):
            continue
        dropped_warning = False
        if is_noise(line):
            dropped_warning = bool(_WARNING_HEADER.match(line))
            continue
        yield line


def forward(source: int = 0, sink: int = 1) -> None:
    """Copy the lines of fd `source` to fd `sink` without the noise, until `source` ends.

    The helper's loop: it ignores Ctrl-C and termination (the process it serves decides how to end;
    the helper ends when the last writer closes the pipe), and keeps reading when `sink` breaks (a
    closed terminal), so a writer never blocks or fails on a full pipe."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    broken = False
    with open(source, "rb", buffering=0, closefd=False) as raw:
        lines = (line.decode("utf-8", "replace") for line in raw)  # bytes → text only to match; written as text
        for line in keep_lines(lines):
            if broken:
                continue
            try:
                os.write(sink, line.encode("utf-8", "replace"))
            except OSError:
                broken = True


@contextlib.contextmanager
def clean_stderr() -> Iterator[None]:
    """Within the block, fd 2 (this process's and every process it starts) goes through `forward` in
    a helper process; on leaving, fd 2 is restored once the helper has written everything out."""
    if os.environ.get(SHOW_ALL) == "1":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")  # before TensorFlow loads: its INFO logs too
        yield
        return
    sys.stderr.flush()
    read, write = os.pipe()
    saved = os.dup(2)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(Path(__file__).resolve().parents[2]),
                                                                     os.environ.get("PYTHONPATH"))))}
    # The helper must outlive a Ctrl-C to print the traceback or error that follows it: it starts
    # with SIGINT ignored (inherited through exec; Python then leaves it ignored).
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        helper = subprocess.Popen([sys.executable, "-S", "-m", "pruneflow.pipeline.console"], stdin=read, stdout=saved,
                                  stderr=saved, env=env)
    except OSError:  # cannot start it: unfiltered output beats none
        for fd in (read, write, saved):
            os.close(fd)
        yield
        return
    finally:
        signal.signal(signal.SIGINT, previous)
    os.close(read)
    os.dup2(write, 2)
    os.close(write)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # drops this process's last write end: the helper sees the end of its input
        os.close(saved)
        with contextlib.suppress(subprocess.TimeoutExpired):
            helper.wait(timeout=10)  # a process the stage started may still hold the pipe; the helper ends with it


def size_text(path: Path) -> str:
    """A file's or folder's size on disk for a summary line: `2.8 MB`, `14 KB`, `512 B`."""
    if path.is_dir():
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    elif path.is_file():
        size = path.stat().st_size
    else:
        return "missing"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def summary_line(stage: str, seconds: float, outputs: Iterable[Path]) -> str:
    """The one line a stage ends with: `pruneflow: strip done in 12.3 s → models/x.keras (2.8 MB), ...`."""
    written = ", ".join(f"{path} ({size_text(path)})" for path in outputs)
    return f"pruneflow: {stage} done in {seconds:.1f} s" + (f" → {written}" if written else "")


def stage_outputs(argv: list[str]) -> tuple[str, tuple[Path, ...]]:
    """The stage a command line ran (`sweep_point@0.5-polynomial` for a point) and the outputs it wrote,
    read from the same params file; no outputs when they cannot be worked out."""
    import argparse

    from pruneflow.config.params import load_config
    from pruneflow.config.studies import ChannelPoint, SeedPoint, SweepPoint
    from pruneflow.pipeline.stages import BY_NAME, CHANNEL_POINT, SEED_RUN, SWEEP_POINT, sweep_stage

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("stage")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--sparsity", type=float)
    parser.add_argument("--schedule")
    parser.add_argument("--keep", type=float)
    parser.add_argument("--seed", type=int)
    args, _ = parser.parse_known_args(argv)
    try:
        stage = BY_NAME[args.stage]
        if args.stage == SWEEP_POINT:
            stage = sweep_stage(SweepPoint(args.sparsity, args.schedule))
        elif args.stage == CHANNEL_POINT:
            stage = sweep_stage(ChannelPoint(args.keep))
        elif args.stage == SEED_RUN:
            stage = sweep_stage(SeedPoint(args.seed))
        cfg = load_config(args.params)
        return stage.name, (*stage.out_paths(cfg), *stage.timing_out_paths(cfg))
    except Exception:  # the stage succeeded; a summary without its outputs is still a summary
        return args.stage, ()


def run_stage_command(main: Callable[[list[str]], int], argv: list[str]) -> int:
    """`python -m pruneflow`'s entry: a stage runs with a clean stderr and ends with its summary line on
    stdout, or with its error line on stderr; Ctrl-C ends with one line and the status of SIGINT.
    `show`, `preset` and `--help` load no TensorFlow and print their own output: they run as they are."""
    from pruneflow.pipeline.stages import BY_NAME

    if not any(arg in BY_NAME for arg in argv) or {"-h", "--help"} & set(argv):
        return main(argv)
    started = time.perf_counter()
    try:
        with clean_stderr():
            status = main(argv)
    except KeyboardInterrupt:
        name = next(arg for arg in argv if arg in BY_NAME)
        print(f"pruneflow: {name} interrupted after {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)  # end as Ctrl-C ends a program: the shell and DVC see SIGINT
        raise
    if status == 0:
        name, outputs = stage_outputs(argv)
        print(summary_line(name, time.perf_counter() - started, outputs), flush=True)
    return status


if __name__ == "__main__":  # the helper process of clean_stderr()
    forward()
