"""Per-group widths that meet a latency budget, chosen on the latency table (no TensorFlow here).

- `greedy` (NetAdapt's greedy steps, Yang et al. 2018, ranked by HALP's importance per latency, Shen
  et al. 2022): start from the dense widths; at each step narrow by one step (`channels.multiple`) the
  group whose step removes the least channel importance per predicted ms saved; stop when the
  prediction meets the budget. Importance must compare across groups: `pruneflow.latency.point` uses
  first-order Taylor importance (Molchanov et al. 2019, as HALP does), a share of the whole model's;
  a step removes the channels the plan would drop next (`order`).
- `uniform`: the same kept fraction in every group (`channels.keep`'s rule), the largest that meets the
  budget: the comparison at equal latency.
- `reach`: the budget against the table's range (dense down to the narrowest model the scope allows):
  reachable, unreachable or met by dense; channel_budget records the last two and goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pruneflow.config.studies import BudgetConfig
from pruneflow.errors import PipelineError
from pruneflow.latency.table import LatencyTable

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


REACHABLE, UNREACHABLE, MET_BY_DENSE = "reachable", "unreachable", "met by dense"


@dataclass(frozen=True)
class Reach:
    """What one table says of a budget: the dense model's predicted time, the narrowest model's (the
    fastest the scope allows) and whether the target lies between them."""

    target_ms: float
    dense_ms: float
    floor_ms: float

    @property
    def status(self) -> str:
        if self.target_ms < self.floor_ms:
            return UNREACHABLE
        return MET_BY_DENSE if self.target_ms >= self.dense_ms else REACHABLE

    @property
    def max_speedup_x(self) -> float:
        """The largest speed-up over dense the table predicts any allocation can reach."""
        return self.dense_ms / self.floor_ms

    def reason(self, what: str) -> str:
        """One line: why the budget cannot be searched, and the range that can ('' when it can)."""
        if self.status == UNREACHABLE:
            return (f"{what}: {self.target_ms:.4f} ms is unreachable here: the narrowest model the scope allows is "
                    f"predicted at {self.floor_ms:.4f} ms; allowed: latency_ms >= {self.floor_ms:.4f}, or speedup_x <= "
                    f"{self.max_speedup_x:.2f} (dense {self.dense_ms:.4f} ms)")
        if self.status == MET_BY_DENSE:
            return (f"{what}: {self.target_ms:.4f} ms asks for nothing: the dense model already runs in "
                    f"{self.dense_ms:.4f} ms; allowed: latency_ms < {self.dense_ms:.4f}, or speedup_x > 1")
        return ""

    def to_json(self) -> dict[str, float | str]:
        return {"status": self.status, "target_ms": self.target_ms, "dense_ms": self.dense_ms,
                "floor_ms": self.floor_ms, "max_speedup_x": self.max_speedup_x}


def reach(predict: Predict, groups: list[GroupLevels], target_ms: float, dense_ms: float) -> Reach:
    """The budget against the table's range: dense time down to the narrowest allocation's prediction."""
    return Reach(target_ms, dense_ms, predict(narrowest(groups)))


def check_reachable(predict: Predict, groups: list[GroupLevels], target_ms: float, dense_ms: float, what: str) -> None:
    """One line when no width allocation can meet the budget, or when the dense model already does."""
    found = reach(predict, groups, target_ms, dense_ms)
    if found.status != REACHABLE:
        raise PipelineError(found.reason(what))


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
            break  # every group at its narrowest: `reach` said it meets the target
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


def target_ms(budget: BudgetConfig, tables: dict[str, LatencyTable]) -> float:
    """The budget in ms: `latency_ms`, or the fastest dense format's measured p50 over `speedup_x`."""
    if budget.latency_ms is not None:
        return budget.latency_ms
    return min(table.dense_ms for table in tables.values()) / budget.speedup_x


# The table holds one median per layer and one for dense (no spread): the bound moves with that dense
# median between latency_table runs (measured: dense int8 0.0842 ms in one run, 0.0570 ms in the next).
NO_SPREAD = "one median of one latency_table run per layer and for dense, no spread recorded: the bound moves between runs"


def unreachable_point(budget: BudgetConfig, target: float, reaches: dict[str, Reach]) -> dict[str, Any]:
    """The point.json of a budget no format can be searched for: not built (`applicable` false, as the
    uniform-width baseline's), its status, the reachable bound per format and why, in one line."""
    status = MET_BY_DENSE if all(r.status == MET_BY_DENSE for r in reaches.values()) else UNREACHABLE
    what = f"channels.budget {budget.name}"
    reason = "; ".join(r.reason(f"{what} ({fmt})") for fmt, r in reaches.items()) + f" ({NO_SPREAD})"
    return {"point": f"budget-{budget.name}", "kind": "budget", "applicable": False, "status": status,
            "reason": reason, "budget": budget.model_dump(mode="json"), "format": budget.format, "target_ms": target,
            "reachable": {fmt: {**r.to_json(), "spread": None} for fmt, r in reaches.items()}}


def search_widths(budget: BudgetConfig, groups: list[GroupLevels], tables: dict[str, LatencyTable],
                  uniform_counts: Callable[[float], Mapping[str, int]]) -> tuple[dict[str, int] | None, dict[str, Any]]:
    """Per-group widths meeting the budget and how they were chosen (format, target, predictions); where
    no format's table can reach it, None and `unreachable_point`'s record: the caller goes on."""
    target = target_ms(budget, tables)
    reaches = {fmt: reach(table.predict, groups, target, table.dense_ms) for fmt, table in tables.items()}
    found = {}
    for fmt, table in tables.items():
        if reaches[fmt].status != REACHABLE:
            continue
        if budget.allocation == "greedy":
            found[fmt] = (None, greedy(groups, table.predict, target))
        else:
            found[fmt] = uniform(uniform_counts, table.predict, target)
    if not found:
        return None, unreachable_point(budget, target, reaches)
    # best: the format whose widths keep the most importance (then the faster prediction)
    fmt = max(found, key=lambda f: (importance_kept(groups, found[f][1]), -tables[f].predict(found[f][1])))
    keep, counts = found[fmt]
    info = {"format": fmt, "target_ms": target, "dense_ms": tables[fmt].dense_ms,
            "predicted_ms": {f: t.predict(counts) for f, t in tables.items()},
            "importance_kept": importance_kept(groups, counts), "uniform_keep": keep,
            "format_choice": (f"best: {fmt} keeps the most channel importance at {target:.4f} ms "
                              f"(of {', '.join(sorted(found))})" if budget.format == "best" else fmt)}
    return counts, info
