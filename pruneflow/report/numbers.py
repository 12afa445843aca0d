"""How the report writes numbers, and the two thresholds its verdicts cite.

`_share`, `_pct`, `_bytes` and `_mb` format a fraction, a percentage, a byte count and megabytes the
same way in every section; `LATENCY_NOISE` is the band of latency ratios around 1.0 worded as "no
measurable difference", and `MEANINGFUL_SIZE_X` the size ratio below which a file is worded "no
smaller". The section modules (`sentences`, `method`, `variants`, `sweep`, `channels`, `budget`) and the
size figure all read them here, so a verdict and its wording never disagree between sections.
"""

from __future__ import annotations

# Latency ratios within this band of 1.0 are reported as "no measurable difference": interleaved
# runs of the same model differ by about this much on a shared 2-core machine.
LATENCY_NOISE = 0.10

# Size ratios below this are worded as "no smaller": file sizes repeat exactly, but a 5 % change in a
# float32 file is not what pruning is for, and the default run's stripped files differ by < 0.1 %.
MEANINGFUL_SIZE_X = 1.05


def _pct(x: float) -> str:
    return f"{x:.1f} %"


def _share(fraction: float, digits: int = 0) -> str:
    return f"{100 * fraction:.{digits}f} %"


def _bytes(n: int) -> str:
    return f"{n:,} bytes"


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"
