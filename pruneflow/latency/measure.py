"""Measure the latency table on this machine (stage latency_table): for each setting (format, threads,
side) every costed layer of the dense model at its grid of widths, and the dense model itself, in one
interleaved run per thread count and side. A side the dense model cannot take (a fixed-size head:
`pruneflow.deploy.resolution.usable_side`) is measured at its own side, and the table says so."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from pruneflow.config.params import Config
from pruneflow.deploy.resolution import convert_at_resolution, usable_side
from pruneflow.deploy.tflite import calibration_images, in_processes
from pruneflow.deploy.tflite_runner import TFLiteRunner
from pruneflow.errors import require
from pruneflow.latency.layers import costed_layers
from pruneflow.latency.micro import micro_tflite, time_signatures
from pruneflow.latency.table import FORMATS, LatencyTable, Setting
from pruneflow.models.data import load_split
from pruneflow.models.store import load_model

WARMUP, RUNS = 20, 200  # rounds over every signature: a 48 px table's run takes ~1 s


def settings(cfg: Config) -> list[Setting]:
    """What the table is measured for: every budget's format(s), threads and side, and float at the data's
    side and the first benchmarked thread count (channel_bench checks the prediction at each)."""
    side = cfg.data.image_size
    found = [Setting("float", cfg.bench.threads[0], side)]
    for budget in cfg.channels.budgets():
        for fmt in (FORMATS if budget.format == "best" else (budget.format,)):
            found.append(Setting(fmt, budget.threads, budget.resolution or side))
    return list(dict.fromkeys(found))


def _dense_files(cfg: Config, wanted: list[Setting], scratch: Path) -> dict[tuple[str, int], Path]:
    """The dense model's TFLite file per (format, side), converted here: export's folder also holds the
    pruned model's files, and a change there must not re-measure the table."""
    from pruneflow.tf_env import tf

    jobs = list(dict.fromkeys((setting.format, setting.side) for setting in wanted))
    train_images, _ = load_split(cfg.paths.prepared, "train")
    picked = calibration_images(train_images, cfg.quantize.representative_samples).astype(np.float32)
    calls = [(cfg.paths.dense_model, fmt, side, tf.image.resize(picked, (side, side)).numpy() if fmt == "int8" else None)
             for fmt, side in jobs]
    files = {}
    for (fmt, side), flatbuffer in zip(jobs, in_processes(convert_at_resolution, calls)):
        files[(fmt, side)] = scratch / f"dense.{side}.{fmt}.tflite"
        files[(fmt, side)].write_bytes(flatbuffer)
    return files


def measure(cfg: Config) -> tuple[list[LatencyTable], dict[str, Any]]:
    """Every setting's table, and what was measured (signature counts, rounds)."""
    from pruneflow.tf_env import tf

    dense = load_model(require(cfg.paths.dense_model, "train_dense"))
    asked = settings(cfg)
    usable = {side: usable_side(dense, side) for side in dict.fromkeys(s.side for s in asked)}
    measured_as = {s: Setting(s.format, s.threads, usable[s.side][0]) for s in asked}
    wanted = list(dict.fromkeys(measured_as.values()))
    test_images, _ = load_split(cfg.paths.prepared, "test")
    tables, info = [], {"warmup_rounds": WARMUP, "runs": RUNS, "sides": {}}
    with tempfile.TemporaryDirectory() as tmp:
        dense_files = _dense_files(cfg, wanted, Path(tmp))
        for side in dict.fromkeys(s.side for s in wanted):
            layers = costed_layers(dense, side, cfg.channels.scope, cfg.channels.multiple)
            signatures = list(dict.fromkeys(sig for layer in layers for sig in layer.signatures()))
            index = {sig: f"s{i}" for i, sig in enumerate(signatures)}
            formats = [fmt for fmt in FORMATS if any(s.format == fmt and s.side == side for s in wanted)]
            flatbuffers = dict(zip(formats, in_processes(micro_tflite, [(signatures, fmt, cfg.seed) for fmt in formats])))
            info["sides"][str(side)] = {"costed_layers": len(layers), "signatures": len(signatures)}
            image = test_images[0] if side == cfg.data.image_size else \
                tf.image.resize(test_images[:1].astype(np.float32), (side, side)).numpy()[0]
            for setting in (s for s in wanted if s.side == side):
                runner = TFLiteRunner(dense_files[(setting.format, side)], setting.threads)
                x = runner.prepare(image[None])
                medians = time_signatures(flatbuffers[setting.format], setting.threads,
                                          {"dense": lambda r=runner, x=x: r.invoke(x)}, WARMUP, RUNS, cfg.seed)
                times = {layer.name: np.array([[medians[index[(layer.kind, *layer.spec, c_in, c_out)]]
                                                for c_out in layer.grid_out] for c_in in layer.grid_in])
                         for layer in layers}
                # settings asked at a side the model cannot take, answered by this one (its own side)
                stand_in = [a for a, m in measured_as.items() if m == setting and a != setting]
                note = "; ".join(dict.fromkeys(usable[a.side][1] for a in stand_in)) or None
                tables.append(LatencyTable(setting, tuple(layers), medians["dense"], times,
                                           tuple(a.key for a in stand_in), note))
    return tables, info
