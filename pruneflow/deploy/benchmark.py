"""Timing: latency and throughput of TFLite files, measured the way a benchmark should.

All variants run in one process and are interleaved: each round invokes every variant once, in a
freshly shuffled order, so a noisy neighbour or a frequency change hits all of them alike. Warm-up
rounds are dropped; medians and spreads are reported; a speed-up is a ratio of medians from the
same rounds, with the spread of the per-round ratios beside it. Timing never enters a unit test.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pruneflow.artifacts.phases import phase
from pruneflow.config.prune import BenchConfig
from pruneflow.deploy.tflite_runner import TFLiteRunner

BASELINE = "dense.float"


# A long timing run prints a progress line at each tenth of its rounds, at most one per this many
# seconds (a short run prints only its last line); between rounds, never inside a timed call.
PROGRESS_EVERY_S = 2.0


def interleaved_ms(calls: dict[str, Callable[[], None]], warmup: int, runs: int, seed: int = 0,
                   label: str = "timing") -> dict[str, np.ndarray]:
    """Wall time in ms of each call over `runs` rounds after `warmup` rounds.

    Every round runs each call once, in a new random order (seeded), so each sample of one call has a
    same-round partner in every other call. Progress lines on stdout start with `label`.
    """
    with phase("bench"):
        return _interleaved_ms(calls, warmup, runs, seed, label)


def _interleaved_ms(calls: dict[str, Callable[[], None]], warmup: int, runs: int, seed: int,
                    label: str) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    names = list(calls)
    times = {name: np.empty(runs) for name in names}
    rounds, tenths = warmup + runs, 0
    started = shown = time.perf_counter()
    for i in range(rounds):
        for j in rng.permutation(len(names)):
            start = time.perf_counter()
            calls[names[j]]()
            elapsed = (time.perf_counter() - start) * 1e3
            if i >= warmup:
                times[names[j]][i - warmup] = elapsed
        if (i + 1) * 10 // rounds > tenths:
            tenths, now = (i + 1) * 10 // rounds, time.perf_counter()
            if i + 1 == rounds or now - shown >= PROGRESS_EVERY_S:
                shown = now
                print(f"{label}: {len(names)} variants, round {i + 1}/{rounds} ({tenths * 10} %), "
                      f"{now - started:.1f} s", flush=True)
    return times


def summarize(ms: np.ndarray) -> dict[str, float]:
    """Median, tails and spread of one sample of timings (ms)."""
    q5, q25, q50, q75, q95 = np.percentile(ms, [5, 25, 50, 75, 95])
    return {"p50_ms": float(q50), "p5_ms": float(q5), "p95_ms": float(q95), "iqr_ms": float(q75 - q25),
            "mean_ms": float(ms.mean())}


def speedup(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """How many times faster `candidate` is than `reference`: ratio of medians, and the per-round ratios' quartiles."""
    per_round = reference / candidate
    q25, q50, q75 = np.percentile(per_round, [25, 50, 75])
    return {"x": float(np.median(reference) / np.median(candidate)), "paired_median_x": float(q50),
            "paired_q25_x": float(q25), "paired_q75_x": float(q75)}


def same_format_dense(variant: str) -> str:
    """The dense model in the same format as a pruned variant: what pruning alone changed."""
    return "dense." + variant.split(".", 1)[1]


def benchmark(files: dict[str, Path], images: np.ndarray, cfg: BenchConfig, seed: int = 0) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Time every file at batch 1 and at batch `cfg.batch`, for each thread count.

    Args:
        files: variant name (`<model>.<format>`) → TFLite file; must include `dense.float`.
        images: raw test images; batch 1 cycles through them, batches take consecutive slices.
        cfg: warm-up, runs, batch size, thread counts.
        seed: shuffles the order within rounds.

    Returns:
        The JSON-ready results and the batch-1 samples (ms) of the first thread count, per variant.
    """
    variants: dict[str, dict[str, Any]] = {name: {} for name in files}
    speedups: dict[str, dict[str, Any]] = {}
    first_samples: dict[str, np.ndarray] = {}
    for threads in cfg.threads:
        key = f"threads_{threads}"
        single = {name: TFLiteRunner(path, threads, 1) for name, path in files.items()}
        batched = {name: TFLiteRunner(path, threads, cfg.batch) for name, path in files.items()}
        one = {name: r.prepare(images[:1]) for name, r in single.items()}
        many = {name: r.prepare(np.resize(images, (cfg.batch, *images.shape[1:]))) for name, r in batched.items()}
        b1 = interleaved_ms({n: (lambda r=r, x=one[n]: r.invoke(x)) for n, r in single.items()},
                            cfg.warmup, cfg.runs, seed, label=f"bench {threads} thread(s), batch 1")
        bn = interleaved_ms({n: (lambda r=r, x=many[n]: r.invoke(x)) for n, r in batched.items()},
                            cfg.batch_warmup, cfg.batch_runs, seed + 1, label=f"bench {threads} thread(s), batch {cfg.batch}")
        first_samples = first_samples or b1
        for name in files:
            stats = {f"batch1_{k}": v for k, v in summarize(b1[name]).items()}
            stats.update({f"batch{cfg.batch}_{k}": v for k, v in summarize(bn[name]).items()})
            stats[f"throughput_batch{cfg.batch}_images_per_s"] = cfg.batch * 1e3 / float(np.median(bn[name]))
            variants[name][key] = stats
            variants[name]["delegate"] = single[name].delegate
        speedups[key] = {}
        for name in files:
            if name == BASELINE:
                continue
            entry = {f"batch1_vs_dense_float_{k}": v for k, v in speedup(b1[BASELINE], b1[name]).items()}
            entry.update({f"batch{cfg.batch}_vs_dense_float_{k}": v for k, v in speedup(bn[BASELINE], bn[name]).items()})
            twin = same_format_dense(name)
            if not name.startswith("dense.") and twin in files:
                entry.update({f"batch1_vs_dense_same_format_{k}": v for k, v in speedup(b1[twin], b1[name]).items()})
            speedups[key][name] = entry
    return {"variants": variants, "speedup": speedups}, first_samples


def setup(cfg: BenchConfig, images: np.ndarray) -> dict[str, Any]:
    """What the numbers were measured on and how."""
    return {
        "warmup_rounds": cfg.warmup, "runs": cfg.runs, "batch": cfg.batch, "batch_warmup_rounds": cfg.batch_warmup,
        "batch_runs": cfg.batch_runs, "threads": list(cfg.threads), "image_shape": list(images.shape[1:]),
        "machine": "reports/machine.json (paths.machine): the CPU, cores, ISA features and versions",
        "method": "all variants in one process; each round runs every variant once in a shuffled order; "
                  "warm-up rounds dropped; speed-up x = ratio of medians, paired_* = quartiles of per-round ratios",
    }
