"""The sweep table: the dense baseline, every point (the main prune's own target taken from the main
pipeline), the derived point and the channel-pruned series (kind `channel`, by kept fraction) side by side, with their latency timed together and the Pareto flags.

Latency is measured here, after every point trained, with all files interleaved in one process:
timings taken while other points train would measure the contention, not the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pruneflow.artifacts.points import FLOAT_FILE, INT8_FILE, is_model, read_point
from pruneflow.config.params import Config
from pruneflow.deploy.benchmark import interleaved_ms, speedup, summarize
from pruneflow.deploy.scoring import score_point
from pruneflow.deploy.tflite import exported, representative_data, tflite_kind, to_tflite
from pruneflow.deploy.tflite_runner import TFLiteRunner
from pruneflow.errors import require
from pruneflow.models.data import load_split
from pruneflow.models.store import load_model

# The columns measured by the clock (and the front drawn from them): the sweep stage writes them to the
# timing file `paths.sweep_latency`, keyed by `point`, and the rest to the DVC output `paths.sweep_table`.
TIMING_COLUMNS = ("float_p50_ms", "int8_p50_ms", "int8_speedup_vs_dense_float_x", "pareto_latency")


def pareto_front(table: pd.DataFrame, size: str, accuracy: str = "test_accuracy_pct") -> pd.Series:
    """Whether each row is Pareto-optimal: no other row is at least as small and as accurate, and better in one."""
    sizes, accs = table[size].to_numpy(float), table[accuracy].to_numpy(float)
    return pd.Series([not np.any((sizes <= s) & (accs >= a) & ((sizes < s) | (accs > a))) for s, a in zip(sizes, accs)],
                     index=table.index)


def sweep_table(points: list[dict[str, Any]], dense: dict[str, Any], latency: dict[str, dict[str, float]]) -> pd.DataFrame:
    """One tidy row per run (dense baseline, uniform points, derived), with latency and the Pareto flags."""
    rows = [{**dense, "point": "dense", "kind": "dense", "target_sparsity": 0.0, "schedule": "none"}, *points]
    table = pd.DataFrame(rows)
    for column, values in latency.items():
        table[column] = table["point"].map(values)
    dense_acc = float(table.loc[table["kind"] == "dense", "test_accuracy_pct"].iloc[0])
    table["accuracy_change_pts"] = table["test_accuracy_pct"] - dense_acc
    table["gzip_ratio_x"] = float(table.loc[table["kind"] == "dense", "tflite_gzip_bytes"].iloc[0]) / table["tflite_gzip_bytes"]
    table["pareto_size"] = pareto_front(table, "tflite_gzip_bytes")
    table["pareto_latency"] = pareto_front(table, "int8_p50_ms")
    first = ["point", "kind", "target_sparsity", "schedule", "sparsity_prunable_pct", "test_accuracy_pct",
             "accuracy_change_pts", "int8_test_accuracy_pct", "tflite_gzip_bytes", "gzip_bound_bytes", "gzip_ratio_x"]
    return table[first + [c for c in table.columns if c not in first]]


def exported_point(cfg: Config, name: str, model_path: Path, test: tuple[np.ndarray, np.ndarray],
                   scratch: Path) -> tuple[dict[str, Any], dict[str, Path]]:
    """A model of the main pipeline (`dense`, or `pruned`: the main prune's stripped model) scored like a
    point. Its float and int8 TFLite files are the export stage's when `export.formats` holds them
    (the same conversion a point makes), else converted into `scratch`."""
    model = load_model(require(model_path, "train_dense" if name == "dense" else "strip"))
    flatbuffers, files = {}, {}
    for fmt in ("float", "int8"):
        files[fmt] = exported(cfg.paths.export, name, tflite_kind(fmt))
        if fmt in cfg.export.formats:
            flatbuffers[fmt] = require(files[fmt], "export").read_bytes()
            continue
        representative = None
        if fmt == "int8":
            train_images, _ = load_split(cfg.paths.prepared, "train")
            representative = representative_data(train_images, cfg.quantize.representative_samples)
        flatbuffers[fmt] = to_tflite(model, fmt, representative)
        files[fmt] = scratch / files[fmt].name
        files[fmt].write_bytes(flatbuffers[fmt])
    return score_point(model, flatbuffers["float"], flatbuffers["int8"], model_path, test), files


def collect_points(cfg: Config, test: tuple[np.ndarray, np.ndarray], scratch: Path
                   ) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, dict[str, Path]]]:
    """The dense baseline, every point in sparsity order (the main prune's own target taken from the main
    pipeline, not retrained), the derived point and the channel and budget series (`channel_series`),
    with each one's float and int8 files.

    Returns:
        The dense record, the point records and point name → {"float": file, "int8": file}.
    """
    p = cfg.paths
    dense, dense_files = exported_point(cfg, "dense", p.dense_model, test, scratch)
    points, files = [], {"dense": dense_files}
    main = cfg.main_point()
    for point in cfg.uniform_points():
        if point == main:
            record, files[point.name] = exported_point(cfg, "pruned", p.stripped_model, test, scratch)
            points.append({"point": point.name, "kind": "uniform", "target_sparsity": point.sparsity,
                           "schedule": point.schedule, **record})
            continue
        folder = p.sweep / point.name
        points.append(read_point(folder, f"sweep_point --sparsity {point.sparsity} --schedule {point.schedule}"))
        files[point.name] = {"float": folder / FLOAT_FILE, "int8": folder / INT8_FILE}
    if cfg.sensitivity.derive:
        derived = read_point(p.derived, "sweep_derived")
        points.append(derived)
        files[derived["point"]] = {"float": p.derived / FLOAT_FILE, "int8": p.derived / INT8_FILE}
    series, series_files = channel_series(cfg)
    return dense, points + series, {**files, **series_files}


def channel_series(cfg: Config) -> tuple[list[dict[str, Any]], dict[str, dict[str, Path]]]:
    """The second series, channel-pruned models by kept fraction (the main one and `channels.sweep_keeps`,
    widest first), then the third, models pruned to a latency budget: their records and float/int8 files.
    A point that is no model (a plan that removes nothing, a budget no allocation reaches) wrote only
    why: channel_bench's table and the report say so; this table has no row for it."""
    p = cfg.paths
    points, files = [], {}
    folders = {cfg.channels.keep: (p.channel, "channel_prune")}
    folders.update({keep: (p.channel_sweep / str(keep), f"channel_point --keep {keep}") for keep in cfg.channels.sweep_keeps})
    found = [(*folders[keep], ()) for keep in sorted(folders, reverse=True)]
    found += [(p.channel_budget / b.name, "channel_budget", ("budget", "predicted_ms")) for b in cfg.channels.budgets()]
    for folder, producer, dropped in found:
        record = read_point(folder, producer)
        if not is_model(record):
            continue
        points.append({key: value for key, value in record.items() if key not in dropped})
        files[record["point"]] = {"float": folder / FLOAT_FILE, "int8": folder / INT8_FILE}
    return points, files


def sweep_latency(files: dict[str, dict[str, Path]], images: np.ndarray, cfg: Config) -> dict[str, dict[str, float]]:
    """Batch-1 p50 of every point's float and int8 file, all interleaved in one process (first bench
    thread count), and each one's speed-up over the dense float file."""
    threads, calls, runners = cfg.bench.threads[0], {}, {}
    for point, by_format in files.items():
        for fmt, path in by_format.items():
            runner = TFLiteRunner(path, threads, 1)
            x = runner.prepare(images[:1])
            runners[(point, fmt)] = runner
            calls[f"{point}|{fmt}"] = lambda r=runner, x=x: r.invoke(x)
    samples = interleaved_ms(calls, cfg.bench.warmup, cfg.bench.runs, cfg.seed)
    latency: dict[str, dict[str, float]] = {"float_p50_ms": {}, "int8_p50_ms": {}, "int8_speedup_vs_dense_float_x": {}}
    for key, ms in samples.items():
        point, fmt = key.split("|")
        latency[f"{fmt}_p50_ms"][point] = summarize(ms)["p50_ms"]
        if fmt == "int8":
            latency["int8_speedup_vs_dense_float_x"][point] = speedup(samples["dense|float"], ms)["x"]
    return latency

