"""Stages sweep_point, sweep_derived and sweep: accuracy, size and latency against target sparsity.

Every point starts from the same saved dense model and is pruned, stripped, exported (float and int8
TFLite) and scored like the main pipeline, with only `prune.final_sparsity` and `prune.schedule`
changed (`sweep.sparsities` × `sweep.schedules`). `sweep_derived` prunes with the per-layer targets
derived from the sensitivity scan instead of one uniform target. Points are independent, so DVC
(matrix) and the Prefect flow (map, optionally on Dask) can run them in any order or in parallel;
their latency is measured afterwards by the `sweep` stage, all files interleaved in one process,
because timings taken while other points train would measure the contention, not the model.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tasks.bench import interleaved_ms, speedup, summarize
from tasks.config import Config, SweepPoint
from tasks.errors import PipelineError, require
from tasks.export import representative_data, to_tflite
from tasks.ingest import load_split
from tasks.io import atomic_dir, atomic_path, gzip_bytes, gzip_size
from tasks.litert import TFLiteRunner, weight_stats
from tasks.metrics import gzip_bound_x
from tasks.model import distribution, is_chief, load_model, save_model
from tasks.prune import prunable_weight_names, prune_model
from tasks.strip import strip
from tasks.tf_env import keras

POINT_FILE = "point.json"
TARGETS_FILE = "targets.csv"
# The files of one point: the stripped Keras model and its two TFLite exports.
MODEL_FILE, FLOAT_FILE, INT8_FILE = "pruned_stripped.keras", "model.tflite", "model.int8.tflite"


def point_config(cfg: Config, point: SweepPoint) -> Config:
    """`cfg` with the point's target sparsity and schedule (unstructured magnitude pruning)."""
    prune = cfg.prune.model_copy(update={"final_sparsity": point.sparsity, "schedule": point.schedule,
                                         "sparsity_m_by_n": None})
    return cfg.model_copy(update={"prune": prune})


def prunable_sparsity_pct(model: keras.Model) -> tuple[float, int]:
    """Zeros over the weights tfmot may prune (every prunable kernel, in scope or not), and their count."""
    zeros = total = 0
    for layer in model.layers:
        for name in prunable_weight_names(layer):
            values = getattr(layer, name).numpy()
            zeros += int(values.size - np.count_nonzero(values))
            total += int(values.size)
    return (100.0 * zeros / total if total else 0.0), total


def score_point(stripped: keras.Model, float_fb: bytes, int8_fb: bytes, keras_file: Path,
                test: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    """Accuracy, sparsity and sizes of one pruned model and its two TFLite files."""
    x, y = test
    probs = stripped.predict(x.astype(np.float32), batch_size=256, verbose=0)
    prunable_pct, prunable = prunable_sparsity_pct(stripped)
    stats = weight_stats(float_fb)
    bound = gzip_bound_x(stats.sparsity_pct / 100.0)
    return {
        "test_accuracy_pct": 100.0 * float(np.mean(probs.argmax(1) == y)),
        "int8_test_accuracy_pct": 100.0 * float(np.mean(_predict(int8_fb, x).argmax(1) == y)),
        "sparsity_prunable_pct": prunable_pct,
        "prunable_params": prunable,
        "tflite_weight_sparsity_pct": stats.sparsity_pct,
        "keras_gzip_bytes": gzip_size(keras_file),
        "tflite_bytes": len(float_fb),
        "tflite_gzip_bytes": len(gzip_bytes(float_fb)),
        # smallest size a lossless coder of the zero pattern can reach when the nonzero float32
        # weights are incompressible: raw ÷ 32/((1−s)·32 + H(s)) (the report's bound)
        "gzip_bound_x": bound,
        "gzip_bound_bytes": len(float_fb) / bound,
        "int8_tflite_gzip_bytes": len(gzip_bytes(int8_fb)),
    }


def _predict(flatbuffer: bytes, x: np.ndarray) -> np.ndarray:
    with tempfile.NamedTemporaryFile(suffix=".tflite") as f:
        f.write(flatbuffer)
        f.flush()
        return TFLiteRunner(Path(f.name), threads=1, batch=64).predict(x)


def prune_and_write(cfg: Config, out_dir: Path, identity: dict[str, Any],
                    targets: dict[str, float] | None = None) -> dict[str, Any]:
    """Prune the saved dense model under `cfg.prune` (or per-layer `targets`), strip, export, score,
    and replace `out_dir` with the point's files and its `point.json`."""
    prepared = cfg.paths.prepared
    train, val, test = (load_split(prepared, split) for split in ("train", "val", "test"))
    start = time.perf_counter()
    pruned = prune_model(require(cfg.paths.dense_model, "train_dense"), cfg, train, val, targets=targets)
    seconds = time.perf_counter() - start
    stripped = strip(pruned)
    if not is_chief(distribution(cfg.train.strategy)):
        return {}
    float_fb = to_tflite(stripped, "float")
    int8_fb = to_tflite(stripped, "int8", representative_data(train[0], cfg.quantize.representative_samples))
    with atomic_dir(out_dir) as tmp:
        save_model(stripped, tmp / MODEL_FILE)
        (tmp / FLOAT_FILE).write_bytes(float_fb)
        (tmp / INT8_FILE).write_bytes(int8_fb)
        point = {**identity, **score_point(stripped, float_fb, int8_fb, tmp / MODEL_FILE, test),
                 "prune_seconds": seconds}
        if targets is not None:
            pd.DataFrame({"layer": list(targets), "target_sparsity": list(targets.values())}).to_csv(
                tmp / TARGETS_FILE, index=False, float_format="%.6f")
        (tmp / POINT_FILE).write_text(json.dumps(point, indent=2) + "\n")
    return point


def run_point(cfg: Config, point: SweepPoint) -> None:
    """Edge of `sweep_point`: one target sparsity × schedule → `paths.sweep/<point>/`."""
    result = prune_and_write(point_config(cfg, point), cfg.paths.sweep / point.name,
                             {"point": point.name, "kind": "uniform", "target_sparsity": point.sparsity,
                              "schedule": point.schedule})
    if result:
        print(f"sweep_point {point.name}: accuracy {result['test_accuracy_pct']:.2f} %, "
              f"sparsity {result['sparsity_prunable_pct']:.1f} %, gzip {result['tflite_gzip_bytes']} B")


def read_point(directory: Path, producer: str) -> dict[str, Any]:
    """A point's `point.json`.

    Raises:
        PipelineError: missing or unreadable.
    """
    path = require(directory / POINT_FILE, producer)
    try:
        return json.loads(path.read_text())
    except ValueError:
        raise PipelineError(f"{path}: not JSON; run `python -m tasks {producer}` (or dvc repro) again") from None


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


def dense_point(cfg: Config, test: tuple[np.ndarray, np.ndarray], out: Path) -> tuple[dict[str, Any], dict[str, Path]]:
    """The dense baseline scored like a point: its float and int8 TFLite files are converted into
    `out` with the points' settings (whatever `export.formats` holds)."""
    p = cfg.paths
    model = load_model(require(p.dense_model, "train_dense"))
    train_images, _ = load_split(p.prepared, "train")
    float_fb = to_tflite(model, "float")
    int8_fb = to_tflite(model, "int8", representative_data(train_images, cfg.quantize.representative_samples))
    files = {"float": out / FLOAT_FILE, "int8": out / INT8_FILE}
    files["float"].write_bytes(float_fb)
    files["int8"].write_bytes(int8_fb)
    return score_point(model, float_fb, int8_fb, p.dense_model, test), files


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


def run(cfg: Config) -> None:
    """Edge of `sweep`: collect the points, time them together, write the sweep table."""
    p = cfg.paths
    test = load_split(p.prepared, "test")
    scratch = Path(tempfile.mkdtemp(prefix="pruneflow-sweep-"))
    try:
        dense, dense_files = dense_point(cfg, test, scratch)
        _collect_and_write(cfg, test, dense, dense_files)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _collect_and_write(cfg: Config, test: tuple[np.ndarray, np.ndarray], dense: dict[str, Any],
                       dense_files: dict[str, Path]) -> None:
    p = cfg.paths
    points, files = [], {"dense": dense_files}
    for point in cfg.sweep_points():
        points.append(read_point(p.sweep / point.name, f"sweep_point --sparsity {point.sparsity} --schedule {point.schedule}"))
        files[point.name] = {"float": p.sweep / point.name / FLOAT_FILE, "int8": p.sweep / point.name / INT8_FILE}
    if cfg.sensitivity.derive:
        derived = read_point(p.derived, "sweep_derived")
        points.append(derived)
        files[derived["point"]] = {"float": p.derived / FLOAT_FILE, "int8": p.derived / INT8_FILE}
    latency = sweep_latency(files, test[0], cfg)
    table = sweep_table(points, dense, latency)
    with atomic_path(p.sweep_table) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    print(table[["point", "test_accuracy_pct", "sparsity_prunable_pct", "tflite_gzip_bytes", "int8_p50_ms"]].to_string(index=False))
