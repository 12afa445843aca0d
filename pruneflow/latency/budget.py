"""Per-group widths that meet a latency budget, chosen on the latency table (no TensorFlow here).

- `greedy` (NetAdapt's greedy steps, Yang et al. 2018, ranked by HALP's importance per latency, Shen
  et al. 2022): start from the dense widths; at each step narrow by one step (`channels.multiple`) the
  group whose step removes the least channel importance per predicted ms saved; stop when the
  prediction meets the budget. Importance must compare across groups: `pruneflow.latency.point` uses
  first-order Taylor importance (Molchanov et al. 2019, as HALP does), a share of the whole model's;
  a step removes the channels the plan would drop next (`order`).
- `uniform`: the same kept fraction in every group (`channels.keep`'s rule), the largest that meets the
  budget: the comparison at equal latency.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from pruneflow.errors import PipelineError


Predict = Callable[[Mapping[str, int]], float]


@dataclass(frozen=True)
class GroupLevels:
    """A channel group as the search sees it: the widths it may keep (ascending, the last its full size),
    its channels' importance, the order the plan keeps them in (best first; default: by importance) and
    the total the importance is a share of (default: the group's own)."""

    key: str
    levels: tuple[int, ...]
    scores: np.ndarray
    order: np.ndarray | None = None
    total: float | None = None

    def removed(self, keep_from: int, keep_to: int) -> float:
        """Share of the importance lost going from `keep_from` to `keep_to` kept channels (the channels
        at ranks keep_to..keep_from-1 of the plan's order)."""
        order = np.argsort(-self.scores, kind="stable") if self.order is None else self.order
        total = self.total if self.total is not None else float(self.scores.sum())
        return float(self.scores[order[keep_to:keep_from]].sum()) / (total or 1.0)


def narrowest(groups: list[GroupLevels]) -> dict[str, int]:
    return {g.key: g.levels[0] for g in groups}


def check_reachable(predict: Predict, groups: list[GroupLevels], target_ms: float, dense_ms: float, what: str) -> None:
    """One line when no width allocation can meet the budget, or when the dense model already does."""
    floor = predict(narrowest(groups))
    if target_ms < floor:
        raise PipelineError(f"{what}: {target_ms:.4f} ms is unreachable here: the narrowest model the scope allows is "
                            f"predicted at {floor:.4f} ms; allowed: latency_ms >= {floor:.4f}, or speedup_x <= "
                            f"{dense_ms / floor:.2f} (dense {dense_ms:.4f} ms)")
    if target_ms >= dense_ms:
        raise PipelineError(f"{what}: {target_ms:.4f} ms asks for nothing: the dense model already runs in "
                            f"{dense_ms:.4f} ms; allowed: latency_ms < {dense_ms:.4f}, or speedup_x > 1")


def greedy(groups: list[GroupLevels], predict: Predict, target_ms: float) -> dict[str, int]:
    """Widths by greedy steps of least importance lost per ms saved, until `predict` meets `target_ms`."""
    counts = {g.key: g.levels[-1] for g in groups}
    index = {g.key: len(g.levels) - 1 for g in groups}
    current = predict(counts)
    while current > target_ms:
        best: tuple[float, float, str] | None = None
        for g in groups:
            i = index[g.key]
            if i == 0:
                continue
            trial = predict({**counts, g.key: g.levels[i - 1]})
            saved = current - trial
            lost = g.removed(g.levels[i], g.levels[i - 1])
            # a step that saves no time is taken only when none does (the lowest loss first)
            rank = (lost / saved, 0.0) if saved > 1e-9 else (np.inf, lost)
            if best is None or (*rank, g.key) < best:
                best = (*rank, g.key)
        if best is None:
            break  # every group at its narrowest: check_reachable said it meets the target
        key = best[2]
        index[key] -= 1
        counts[key] = next(g.levels[index[key]] for g in groups if g.key == key)
        current = predict(counts)
    return counts


def uniform(uniform_counts: Callable[[float], Mapping[str, int]], predict: Predict, target_ms: float,
            step: float = 0.005) -> tuple[float, dict[str, int]]:
    """The largest kept fraction (in `step`s) whose uniform widths meet `target_ms`, and those widths."""
    for keep in np.arange(1.0, 0.0, -step):
        counts = dict(uniform_counts(round(float(keep), 4)))
        if predict(counts) <= target_ms:
            return round(float(keep), 4), counts
    keep = step
    return keep, dict(uniform_counts(keep))


def importance_kept(groups: list[GroupLevels], counts: Mapping[str, int]) -> float:
    """The share of importance kept (1 = nothing lost): of the whole model's when the groups' importance
    is a share of one total, else the mean over groups of each one's own share."""
    lost = [g.removed(g.levels[-1], counts[g.key]) for g in groups]
    if groups and all(g.total is not None for g in groups):
        return 1.0 - float(np.sum(lost))
    return 1.0 - float(np.mean(lost)) if groups else 1.0
