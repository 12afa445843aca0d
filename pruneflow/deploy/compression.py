"""How far a sparse weight tensor can compress: the entropy bound the report, the sweep points and
the channel table quote next to the measured gzip size (pure; no TensorFlow).

Its own module so that the training stages which score a model with it (sweep points, channel models)
do not read `pruneflow.evaluation.metrics` nor the printing code of `pruneflow.evaluation.tables`: an edit there then
reruns no training stage.
"""

from __future__ import annotations

import math


def binary_entropy(s: float) -> float:
    """H(s) in bits: the information in one weight's zero/nonzero flag at sparsity s."""
    if s <= 0.0 or s >= 1.0:
        return 0.0
    return -(s * math.log2(s) + (1 - s) * math.log2(1 - s))


def gzip_bound_x(s: float, bits: int = 32) -> float:
    """Best compression ratio of `bits`-bit weights at sparsity s when nonzeros are incompressible:
    bits / ((1 − s)·bits + H(s)). Sparsity 0 gives 1.0; 80 % gives 4.49."""
    return bits / ((1 - s) * bits + binary_entropy(s))
