"""Stage sweep: every sweep point (the main prune's own target included) and the dense baseline in
one table, their float and int8 files timed together, interleaved in one process."""

from __future__ import annotations

import tempfile
from pathlib import Path

from pruneflow.artifacts.files import atomic_path
from pruneflow.config.params import Config
from pruneflow.magnitude.sweep_table import TIMING_COLUMNS, collect_points, sweep_latency, sweep_table
from pruneflow.models.data import load_split


def run(cfg: Config) -> None:
    """Edge: collect the points, time them together, write the sweep table and its timing half."""
    p = cfg.paths
    test = load_split(p.prepared, "test")
    with tempfile.TemporaryDirectory(prefix="pruneflow-sweep-") as scratch:
        dense, points, files = collect_points(cfg, test, Path(scratch))
        latency = sweep_latency(files, test[0], cfg)
    table = sweep_table(points, dense, latency)
    with atomic_path(p.sweep_table) as tmp:
        table.drop(columns=list(TIMING_COLUMNS)).to_csv(tmp, index=False, float_format="%.4f")
    with atomic_path(p.sweep_latency) as tmp:
        table[["point", *TIMING_COLUMNS]].to_csv(tmp, index=False, float_format="%.4f")
    print(table[["point", "test_accuracy_pct", "sparsity_prunable_pct", "tflite_gzip_bytes", "int8_p50_ms"]].to_string(index=False))
