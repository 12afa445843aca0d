"""The early headline: dense, pruned and channel-pruned side by side as soon as their stages are done,
while the rest of `make run` still runs: `python -m pruneflow.tools.headline [--params params.yaml]`.

The runner (`pruneflow.tools.repro`) starts the headline's stages (`HEADLINE_STAGES`) and what they read
first, and when the last of them ends (`EarlyHeadline`) starts this module in a process of its own, so
the runner stays free of TensorFlow and keeps scheduling. It prints each model's test accuracy, the
paired difference from dense with its 95 % CI and exact McNemar p (`pruneflow.stats.paired.paired`, as
the evaluate stage computes them), the Keras file's bytes and gzip bytes, and MACs (`count_macs` of the
loaded model). Latency needs the timed stages, which run last and alone: `python -m pruneflow show`
at the end of `make run` prints the full headline. No stage imports this module.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from pruneflow.config.params import Config, load_config
from pruneflow.errors import PipelineError, command
from pruneflow.tools.scheduler import Job

# What the early headline reads: the dense model (train_dense), the stripped unstructured model (prune,
# then strip: the wrapped model carries masks and is no smaller), the channel-pruned folder (channel_prune).
HEADLINE_STAGES = ("train_dense", "prune", "strip", "channel_prune")
FIRST_LINE = ("Early headline ({images} test images; sizes of the Keras files): latency columns follow when the "
              "timed stages have run; `python -m pruneflow show` at the end of `make run` prints the full headline")


class EarlyHeadline:
    """Starts the early headline once: when the last planned headline stage ends and nothing has failed;
    never when no headline stage was planned (their outputs were up to date)."""

    def __init__(self, planned: Iterable[str], launch: Callable[[], Job]) -> None:
        self.planned = set(HEADLINE_STAGES) & set(planned)
        self.left, self.launch = set(self.planned), launch
        self.job: Job | None = None
        self.failed = False

    def finished(self, name: str, status: int) -> Job | None:
        """Note that stage `name` ended with exit `status`; the headline's job when this starts it."""
        self.failed = self.failed or bool(status)
        self.left.discard(name)
        if name not in self.planned or self.left or self.failed or self.job is not None:
            return None
        self.job = self.launch()
        return self.job


def _signed(value: float) -> str:
    from pruneflow.stats.paired import MINUS

    rounded = round(value, 1) + 0.0
    return "0.0" if rounded == 0 else f"{rounded:+.1f}".replace("-", MINUS)


def headline_files(cfg: Config) -> tuple[dict[str, tuple[Path, str]], list[str]]:
    """The Keras file (and its producer) of each model the early headline loads, and a line for each one
    absent: the channel model where its plan removes nothing (channel_prune wrote only why), in the words
    of `make show`'s headline.

    Raises:
        PipelineError: the channel folder has no `point.json`.
    """
    from pruneflow.artifacts.points import MODEL_FILE, is_model, read_point
    from pruneflow.report.headline import HEADLINE_MODELS

    p = cfg.paths
    files = {"dense": (p.dense_model, "train_dense"), "unstructured": (p.stripped_model, "strip")}
    channel = read_point(p.channel, "channel_prune")
    if not is_model(channel):
        return files, [f"{dict(HEADLINE_MODELS)['channel']}: no model — {channel['reason']}"]
    return {**files, "channel": (p.channel / MODEL_FILE, "channel_prune")}, []


def headline_rows(cfg: Config) -> tuple[int, list[dict[str, str]], list[str]]:
    """The test images, one row per model (display strings), from the models on disk, and a line for
    each model absent (`headline_files`).

    Raises:
        PipelineError: a model, the test split or the channel model's predictions are missing.
    """
    import numpy as np
    import pandas as pd

    from pruneflow.artifacts.files import gzip_size
    from pruneflow.artifacts.points import PREDICTIONS_FILE
    from pruneflow.errors import require
    from pruneflow.evaluation.variants import evaluate_keras
    from pruneflow.models.data import load_split
    from pruneflow.models.fit import seed_everything
    from pruneflow.models.macs import count_macs
    from pruneflow.models.store import load_model
    from pruneflow.report.headline import HEADLINE_MODELS
    from pruneflow.stats.paired import paired

    p = cfg.paths
    seed_everything(cfg.seed)  # op determinism, as evaluate: the same predictions to the last bit
    x, y = load_split(p.prepared, "test")
    x = x.astype(np.float32)
    files, absent = headline_files(cfg)
    predicted, macs = {}, {}
    for name, (path, producer) in files.items():
        model = load_model(require(path, producer))
        macs[name] = count_macs(model)
        if name != "channel":
            predicted[name] = evaluate_keras(model, x, y)[2]
    if "channel" in files:  # its predictions as channel_prune wrote them: the column evaluate pairs with dense
        channel = pd.read_csv(require(p.channel / PREDICTIONS_FILE, "channel_prune"))
        if "keras" not in channel or len(channel) != len(y):
            raise PipelineError(f"{p.channel / PREDICTIONS_FILE}: not {len(y)} rows with a keras column; "
                                "run `python -m pruneflow channel_prune` (or dvc repro) again")
        predicted["channel"] = channel["keras"].to_numpy()
    labels, rows = dict(HEADLINE_MODELS), []  # the full headline's labels (`make show`)
    for name, (path, _) in files.items():
        row = {"model": labels[name], "test accuracy %": f"{100.0 * float(np.mean(predicted[name] == y)):.1f}",
               "vs dense pts": "–", "95 % CI pts": "–", "McNemar p": "–"}
        if name != "dense":
            result = paired(y, predicted["dense"], predicted[name])
            row.update({"vs dense pts": _signed(result.diff_pts),
                        "95 % CI pts": f"{_signed(result.ci_low_pts)} to {_signed(result.ci_high_pts)}",
                        "McNemar p": f"{result.p_value:.2g}"})
        row.update({"Keras bytes": f"{path.stat().st_size:,}", "gzip bytes": f"{gzip_size(path):,}",
                    "MACs (M)": f"{macs[name] / 1e6:.2f}"})
        rows.append(row)
    return len(y), rows, absent


def format_rows(images: int, rows: list[dict[str, str]], absent: Iterable[str] = ()) -> str:
    """The early headline as printed: its first line, a fixed-width table, then why a model is absent."""
    widths = {col: max(len(col), *(len(r[col]) for r in rows)) for col in rows[0]}

    def line(row: dict[str, str]) -> str:
        return "  ".join(row[c].ljust(widths[c]) if c == "model" else row[c].rjust(widths[c]) for c in widths)

    return "\n".join([FIRST_LINE.format(images=images), line({c: c for c in widths}), *(line(r) for r in rows),
                      *absent])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file (default: params.yaml)")
    args = parser.parse_args(argv)

    def action() -> str:
        return format_rows(*headline_rows(load_config(args.params)))

    from pruneflow.pipeline.console import clean_stderr

    with clean_stderr():  # TensorFlow's start-up chatter off stderr, as for a stage
        return command(action)


if __name__ == "__main__":
    sys.exit(main())
