"""Stage bench: latency and throughput of every TFLite variant, interleaved in one process
(`pruneflow.deploy.benchmark`); `make bench` re-measures it on demand. The timings go to `paths.bench` and
`paths.latency_samples` (timing files); the DVC output `paths.bench_setup` says what was timed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pruneflow.artifacts.files import atomic_path, read_json, write_json
from pruneflow.config.params import Config
from pruneflow.deploy.benchmark import benchmark, setup
from pruneflow.deploy.tflite import deployables
from pruneflow.errors import require
from pruneflow.models.data import load_split


def run(cfg: Config) -> None:
    """Edge: benchmark every deployable file; write `paths.bench` and the batch-1 float samples."""
    files = {name: require(path, "export" if "pqat" not in name else "pqat") for name, path in deployables(cfg).items()}
    images, _ = load_split(cfg.paths.prepared, "test")
    results, samples = benchmark(files, images, cfg.bench, cfg.seed)
    write_json(cfg.paths.bench, {"setup": setup(cfg.bench, images), "machine": read_json(require(cfg.paths.machine, "machine")),
                                 **results})
    # What was timed, and how: the same for every rerun on this machine (downstream stages depend on it).
    write_json(cfg.paths.bench_setup, {
        "setup": setup(cfg.bench, images),
        "variants": {name: {"file": str(path), "bytes": path.stat().st_size, "delegate": results["variants"][name]["delegate"]}
                     for name, path in files.items()}})
    with atomic_path(cfg.paths.latency_samples) as tmp:
        pd.DataFrame({"run": np.arange(1, cfg.bench.runs + 1), "dense_ms": samples["dense.float"],
                      "pruned_ms": samples["pruned.float"]}).to_csv(tmp, index=False, float_format="%.4f")
    key = f"threads_{cfg.bench.threads[0]}"
    for name, entry in results["variants"].items():
        stats = entry[key]
        print(f"bench: {name:28s} p50 {stats['batch1_p50_ms']:.3f} ms  p95 {stats['batch1_p95_ms']:.3f} ms  "
              f"{stats[f'throughput_batch{cfg.bench.batch}_images_per_s']:.0f} img/s ({key}, {entry['delegate'][:20]})")

