"""The structured-pruning table (stage channel_bench): dense, unstructured (the main magnitude prune),
channel-pruned, stacked and the uniform-width baseline side by side — accuracy, MACs, params, raw and
gzip bytes of the float and int8 TFLite files, and batch-1 latency in one interleaved benchmark per
input side and thread count, with each model's speed-up over the dense model in the same format.

Latency is measured at the data's side and at `channels.resolution` (the seed's 224x224 deployment):
the models are fully convolutional up to the global pooling, so the same weights convert with a larger
input. The int8 files at that side are calibrated on upscaled train images; they are for timing only
(accuracy is measured at the data's side). An adopted model with a fixed-size head (Flatten → Dense)
cannot take another side: it is timed at its own side only, and `setup` says so (`resolution_px`, the
side used, and `resolution_note`, why; `pruneflow.deploy.resolution.usable_side`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from pruneflow.artifacts.points import FLOAT_FILE, INT8_FILE, MODEL_FILE, STRIPPED_FILE, read_point
from pruneflow.config.params import Config
from pruneflow.deploy.benchmark import interleaved_ms, speedup, summarize
from pruneflow.deploy.resolution import CALIBRATION_AT_RESOLUTION, convert_at_resolution, usable_side
from pruneflow.deploy.tflite import calibration_images, in_processes
from pruneflow.deploy.tflite_runner import TFLiteRunner
from pruneflow.errors import require
from pruneflow.latency.table import read_tables
from pruneflow.latency.widths import model_widths
from pruneflow.magnitude.sweep_table import exported_point
from pruneflow.models.data import load_split
from pruneflow.models.store import load_model
from pruneflow.tf_env import tf

FORMATS = ("float", "int8")


def model_records(cfg: Config, test: tuple[np.ndarray, np.ndarray], scratch: Path
                  ) -> tuple[dict[str, dict[str, Any]], dict[str, Path], dict[str, dict[str, Path]]]:
    """Each model's record (accuracy, MACs, params, sizes), Keras file and float/int8 TFLite files."""
    p = cfg.paths
    records, keras_files, files = {}, {}, {}
    for name, source, path in (("dense", "dense", p.dense_model), ("unstructured", "pruned", p.stripped_model)):
        records[name], files[name] = exported_point(cfg, source, path, test, scratch)
        keras_files[name] = path
    points = [("channel", p.channel, "channel_prune", MODEL_FILE), ("stacked", p.stacked, "stacked", STRIPPED_FILE),
              ("uniform_width", p.uniform_baseline, "uniform_baseline", MODEL_FILE),
              *((f"channel-{keep}", p.channel_sweep / str(keep), f"channel_point --keep {keep}", MODEL_FILE)
                for keep in cfg.channels.sweep_keeps),
              *((f"budget-{b.name}", p.channel_budget / b.name, "channel_budget", MODEL_FILE) for b in cfg.channels.budgets())]
    for name, folder, producer, model_file in points:
        records[name] = read_point(folder, producer)
        if not records[name].get("applicable", True):  # kept in the records: the table says why it is absent
            continue
        keras_files[name] = require(folder / model_file, producer)
        files[name] = {"float": folder / FLOAT_FILE, "int8": folder / INT8_FILE}
    return records, keras_files, files


def resolution_files(keras_files: dict[str, Path], images: np.ndarray, scratch: Path, side: int
                     ) -> dict[str, dict[str, Path]]:
    """Float and int8 TFLite files of every model at a `side` input (converted in processes)."""
    picked = calibration_images(images, CALIBRATION_AT_RESOLUTION).astype(np.float32)
    upscaled = tf.image.resize(picked, (side, side)).numpy()
    jobs = [(name, fmt) for name in keras_files for fmt in FORMATS]
    flatbuffers = in_processes(convert_at_resolution, [(keras_files[name], fmt, side, upscaled if fmt == "int8" else None)
                                                       for name, fmt in jobs])
    files: dict[str, dict[str, Path]] = {name: {} for name in keras_files}
    for (name, fmt), flatbuffer in zip(jobs, flatbuffers):
        files[name][fmt] = scratch / f"{name}.{side}.{fmt}.tflite"
        files[name][fmt].write_bytes(flatbuffer)
    return files


def latency(files: dict[str, dict[str, Path]], image: np.ndarray, threads: int, warmup: int, runs: int,
            seed: int) -> dict[str, dict[str, float]]:
    """Batch-1 latency of every model × format, interleaved in one run, and the speed-up of each over
    the dense model in the same format: the median of the per-round paired ratios, with their quartiles
    (the statistic the quartiles describe: a ratio of medians can lie outside them)."""
    calls = {}
    for name, by_format in files.items():
        for fmt, path in by_format.items():
            runner = TFLiteRunner(path, threads, 1)
            x = runner.prepare(image[None])
            calls[f"{name}.{fmt}"] = lambda r=runner, x=x: r.invoke(x)
    samples = interleaved_ms(calls, warmup, runs, seed)
    out = {}
    for key, ms in samples.items():
        fmt = key.rsplit(".", 1)[1]
        gain = speedup(samples[f"dense.{fmt}"], ms)
        out[key] = {**summarize(ms), "speedup_vs_dense_same_format_x": gain["paired_median_x"],
                    "speedup_paired_q25_x": gain["paired_q25_x"], "speedup_paired_q75_x": gain["paired_q75_x"]}
    return out


def predictions(cfg: Config, keras_files: dict[str, Path], timings: dict[str, dict[str, Any]],
                resolution_px: int) -> dict[str, Any]:
    """The latency table's prediction for every model at each setting both measured, against the
    measured p50 (the table's check: within 10 %), and each budgeted model's measured p50 against its
    budget (within 10 %).

    Both are anchored on the dense model measured in this same interleaved run: a prediction is that
    p50 plus the table's per-layer differences (its own dense time is a separate run's, and absolute
    times move between runs more than ratios do), and a speed-up budget's target is that p50 over the
    speed-up asked for (a latency_ms budget is absolute). A budget at `channels.resolution` is checked
    at `resolution_px`, the side that was timed for it (the model's own where its head is fixed-size)."""
    tables = read_tables(require(cfg.paths.latency_table, "latency_table"))
    widths = {name: model_widths(load_model(path)) for name, path in keras_files.items()}
    checks = {}
    for key, table in tables.items():
        if key != table.setting.key:  # a fixed-size head's asked side, read as its own side's table
            continue
        measured = timings.get(f"{table.setting.side}px_threads_{table.setting.threads}", {})
        dense = measured.get(f"dense.{table.setting.format}")
        for name in keras_files:
            entry = measured.get(f"{name}.{table.setting.format}")
            if entry is not None and dense is not None:
                predicted = table.predict_widths(widths[name]) - table.dense_ms + dense["p50_ms"]
                checks.setdefault(key, {})[name] = {"predicted_ms": predicted, "measured_p50_ms": entry["p50_ms"],
                                                    "error_pct": 100 * (predicted - entry["p50_ms"]) / entry["p50_ms"]}
    budgets = {}
    for budget in cfg.channels.budgets():
        name = f"budget-{budget.name}"
        point = read_point(cfg.paths.channel_budget / budget.name, "channel_budget")
        side = budget.resolution or cfg.data.image_size
        side = resolution_px if side == cfg.channels.resolution else side
        run = timings.get(f"{side}px_threads_{budget.threads}", {})
        entry, dense = run.get(f"{name}.{point['format']}"), run.get(f"dense.{point['format']}")
        if entry is not None and dense is not None:
            target = budget.latency_ms if budget.latency_ms is not None else dense["p50_ms"] / budget.speedup_x
            budgets[name] = {"format": point["format"], "target_ms": target, "target_when_chosen_ms": point["target_ms"],
                             "measured_p50_ms": entry["p50_ms"], "predicted_ms": point["predicted_ms"][point["format"]],
                             "off_budget_pct": 100 * (entry["p50_ms"] - target) / target}
    return {"table": checks, "budgets": budgets}


def timed_sides(cfg: Config, keras_files: dict[str, Path], files: dict[str, dict[str, Path]], test_images: np.ndarray,
                train_images: np.ndarray, scratch: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Every model × format timed at the data's side and at `channels.resolution` (the dense model's own
    side where its head is fixed-size: `usable_side`), per thread count; and how (`setup`).

    Args:
        cfg: the config (`bench`, `channels.resolution` and `resolution_runs`, the budgets' threads).
        keras_files: each model's Keras file (`dense` among them).
        files: each model's float and int8 TFLite files at the data's side.
        test_images: the test split's images (the first one is timed).
        train_images: the train split's images (int8 calibration at the resolution side).
        scratch: where the resolution side's TFLite files are written.

    Returns:
        The latency per `<side>px_threads_<n>`, and the setup: sides, threads, rounds, `resolution_px`
        (the side timed for `channels.resolution`) and `resolution_note` (why it differs; None when not).
    """
    side = cfg.data.image_size
    # every model shares the dense model's head: its own side serves them all
    big, note = usable_side(load_model(keras_files["dense"]), cfg.channels.resolution)
    sides = {side: files}
    if big != side:
        sides[big] = resolution_files(keras_files, train_images, scratch, big)
    runs, warmups = {side: cfg.bench.runs}, {side: cfg.bench.warmup}
    if note is None:  # the asked side (its rounds, also when it is the data's side)
        # at the large side a round takes ~10x longer: a tenth of the warm-up rounds warms as long
        runs[big], warmups[big] = cfg.channels.resolution_runs, max(1, cfg.bench.warmup // 10)
    threads = sorted({*cfg.bench.threads, *(b.threads for b in cfg.channels.budgets())})
    timings: dict[str, dict[str, Any]] = {}
    for size, by_model in sides.items():
        image = test_images[0] if size == side else \
            tf.image.resize(test_images[:1].astype(np.float32), (size, size)).numpy()[0]
        for n in threads:
            timings[f"{size}px_threads_{n}"] = latency(by_model, image, n, warmups[size], runs[size], cfg.seed)
    setup = {"sides_px": list(sides), "threads": threads,
             "runs": {str(k): v for k, v in runs.items()}, "warmup": {str(k): v for k, v in warmups.items()},
             "calibration_at_resolution": CALIBRATION_AT_RESOLUTION,
             "resolution_asked_px": cfg.channels.resolution, "resolution_px": big, "resolution_note": note,
             "method": "batch 1; every model × format of one side and thread count interleaved in one run, "
                       "shuffled each round; speed-up = ratio of medians vs the dense model in the same format"}
    return timings, setup


def channel_table(cfg: Config) -> dict[str, Any]:
    """The whole table: per-model records and latency per input side and thread count."""
    test = load_split(cfg.paths.prepared, "test")
    train_images, _ = load_split(cfg.paths.prepared, "train")
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        records, keras_files, files = model_records(cfg, test, scratch)
        timings, setup = timed_sides(cfg, keras_files, files, test[0], train_images, scratch)
        checks = predictions(cfg, keras_files, timings, setup["resolution_px"])
    not_applicable = {name: records.pop(name)["reason"] for name in list(records)
                      if not records[name].get("applicable", True)}
    dense = records["dense"]
    for record in records.values():
        record["mac_reduction_x"] = dense["macs"] / record["macs"]
        record["param_reduction_x"] = dense["params"] / record["params"]
        record["float_size_reduction_x"] = dense["tflite_bytes"] / record["tflite_bytes"]
        record["accuracy_change_pts"] = record["test_accuracy_pct"] - dense["test_accuracy_pct"]
        record["int8_gzip_vs_dense_keras_gzip_x"] = dense["keras_gzip_bytes"] / record["int8_tflite_gzip_bytes"]
    return {"setup": setup, "models": records, "not_applicable": not_applicable, "latency": timings,
            "prediction": checks}
