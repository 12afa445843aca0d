"""The run's own noise around a timing, and whether a change between two runs exceeds it (pure).

`noise_band` is the interval of values a run's own measurements cannot tell apart from one of its
timings: the quartiles of a speed-up's per-round paired ratios, ± the IQR of a latency statistic's
per-run times, ± the IQR relative to the median batch time of a throughput. `verdict` says whether a
timing's change from base to head lies beyond the band either run measured itself. Inputs are flat
`{dotted key: value}` metrics with timings.json merged (`pruneflow.artifacts.results.flatten`); the
review tables (`pruneflow.report.review`) and the headline (`pruneflow.report.headline`) read them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

Flat = Mapping[str, Any]
Verdict = Literal["beyond noise", "within noise", "no noise measure", "noise measure"]


def _noise_key(key: str, flat: Flat) -> str:
    """The bench field whose spread applies to `key`: the top-level latency and speed-up are the bench's
    float TFLite numbers at the first thread count, under their variant's name."""
    threads = f"threads_{flat.get('setup.latency_threads', 1)}"
    if key in ("dense.latency_p50_ms", "pruned.latency_p50_ms"):
        return f"variants.{key.split('.')[0]}.float.{threads}.batch1_p50_ms"
    if key == "comparison.latency_p50_speedup_x":
        return f"variants.pruned.float.{threads}.batch1_vs_dense_float_x"
    return key


def _quartile_keys(key: str) -> list[tuple[str, str]]:
    """Where the paired-ratio quartiles of a speed-up key live (bench variants, channel table)."""
    found = [(f"{key[:-2]}_paired_q25_x", f"{key[:-2]}_paired_q75_x")]
    if "_speedup_" in key:
        found.append((key.replace("_speedup_", "_speedup_paired_q25_", 1), key.replace("_speedup_", "_speedup_paired_q75_", 1)))
    if key.endswith("_paired_median_x"):
        found.append((key.replace("_median_", "_q25_"), key.replace("_median_", "_q75_")))
    return found


def noise_band(key: str, flat: Flat) -> tuple[float, float] | None:
    """The interval of values the run's own measurements cannot tell apart from `flat[key]`.

    Speed-ups: the quartiles of the per-round paired ratios. Latency statistics: ± the IQR of the
    per-run times. Throughput: ± the IQR relative to the median batch time. None when the run holds
    no spread for the key (epoch seconds, p95 ratios) or the key is a spread itself.
    """
    value = flat.get(key)
    if not isinstance(value, (int, float)) or "_iqr_" in key or "_q25_" in key or "_q75_" in key:
        return None
    key_for_noise = _noise_key(key, flat)
    if key_for_noise.endswith("_x"):
        # The quartiles' distances from the paired ratios' median (a channel speed-up is that median; the
        # bench records it beside its ratio of medians), laid around this value, which the band always holds.
        centre = flat.get(f"{key_for_noise[:-2]}_paired_median_x", flat.get(key_for_noise, value))
        for q25, q75 in _quartile_keys(key_for_noise):
            if q25 in flat and q75 in flat:
                low, high = flat[q25], flat[q75]
                centre = centre if low <= centre <= high else (low + high) / 2
                return value - (centre - low), value + (high - centre)
        return None
    if key_for_noise.endswith("_ms"):
        iqr = re.sub(r"_(p50|p95|p5|mean)_", "_iqr_", key_for_noise)
        if iqr != key_for_noise and iqr in flat:
            return value - flat[iqr], value + flat[iqr]
        return None
    if match := re.search(r"throughput_batch(\d+)_images_per_s$", key):
        stem = key[: match.start()] + f"batch{match.group(1)}_"
        if f"{stem}iqr_ms" in flat and flat.get(f"{stem}p50_ms"):
            relative = flat[f"{stem}iqr_ms"] / flat[f"{stem}p50_ms"]
            return value * (1 - relative), value * (1 + relative)
    return None


def verdict(key: str, base: Flat, head: Flat) -> Verdict:
    """Whether a timing's change from base to head exceeds the noise either run measured itself."""
    if "_iqr_" in key or "_q25_" in key or "_q75_" in key:
        return "noise measure"
    bands = [(band, other[key]) for band, other in ((noise_band(key, head), base), (noise_band(key, base), head))
             if band is not None and isinstance(other.get(key), (int, float))]
    if not bands:
        return "no noise measure"
    return "within noise" if any(lo <= v <= hi for (lo, hi), v in bands) else "beyond noise"
