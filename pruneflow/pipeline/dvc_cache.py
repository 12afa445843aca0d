"""Hand the flow's outputs to DVC when they are exactly the files dvc.lock names.

The Prefect flow writes the same bytes as `dvc repro` (timings live only in timing files), but it does
not put them into DVC's cache. On a fresh clone, whose cache is empty, `dvc status` then calls those
outputs `not in cache` and `dvc repro` would rerun their stages although nothing changed. DVC reports
`not in cache` before it compares the workspace with dvc.lock, so that word alone does not prove the
files match: each output's workspace hash is checked too. Only stages whose every output matches
dvc.lock, and whose deps, params and command are unchanged, are committed; dvc.lock keeps its bytes.
Stages that differ from dvc.lock (other params, code or data) are left alone: recording a flow run in
dvc.lock is the nightly flow's job (`flows/nightly.py`), after it has proved the run produced them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NOT_IN_CACHE = "not in cache"
ALWAYS_CHANGED = "always changed"  # what `dvc status` says of an `always_changed` stage (machine), every time


def stale(status: dict[str, Any]) -> dict[str, Any]:
    """`dvc status --json` without the stages it lists only because they always run (the machine
    stage): what would rerun because something changed."""
    return {stage: entries for stage, entries in status.items() if entries != [ALWAYS_CHANGED]}


def only_missing_from_cache(entries: list[Any]) -> bool:
    """True if a stage's `dvc status` entries say nothing but "output not in cache"."""
    return bool(entries) and all(
        isinstance(entry, dict) and set(entry) == {"changed outs"}
        and set(entry["changed outs"].values()) == {NOT_IN_CACHE} for entry in entries)


@dataclass(frozen=True)
class CacheResult:
    """What `cache_outputs_matching_lock` did: stages committed to DVC's cache, stages left as they were."""

    cached: tuple[str, ...]
    differing: tuple[str, ...]

    def summary(self) -> str:
        """One line for the console."""
        parts = []
        if self.cached:
            parts.append(f"put the outputs of {len(self.cached)} stages into DVC's cache "
                         "(their files match dvc.lock; dvc.lock unchanged)")
        if self.differing:
            parts.append(f"{len(self.differing)} stages differ from dvc.lock and were left as they are "
                         f"({', '.join(self.differing)}; see `dvc status`)")
        return "DVC: " + ("; ".join(parts) if parts else "every stage's outputs are in DVC's cache and match dvc.lock")


def cache_outputs_matching_lock(root: Path) -> CacheResult:
    """Commit to DVC's cache every stage of `root`'s dvc.yaml whose only difference from dvc.lock is that
    its outputs are not in the cache, after checking each output's workspace hash against dvc.lock.

    Args:
        root: a DVC repository (holds `.dvc/` and dvc.yaml).
    Returns:
        The stages committed and the stages that differ from dvc.lock in any other way.
    """
    from dvc.repo import Repo  # DVC loads only when a DVC repository asks for it

    cached, differing = [], []
    with Repo(str(root)) as repo:
        stages = {stage.addressing: stage for stage in repo.index.stages}  # keyed as status() keys them
        to_commit = []
        for address, entries in stale(repo.status()).items():  # not the always-run machine stage
            stage = stages.get(address)
            if (stage is not None and only_missing_from_cache(entries)
                    and not any(out.workspace_status() for out in stage.outs)):
                to_commit.append(address)
                cached.append(stage.name)
            else:
                differing.append(stage.name if stage is not None else address)
        for address in to_commit:
            repo.commit(address, force=True)
    return CacheResult(tuple(cached), tuple(differing))


def hand_outputs_to_dvc(root: Path) -> None:
    """`make flow`'s last step: print what `cache_outputs_matching_lock` did. The flow's results stand
    whatever DVC says, so a DVC failure is a one-line warning on stderr, not an error."""
    try:
        print(cache_outputs_matching_lock(root).summary())
    except Exception as exc:  # noqa: BLE001 -- DVC's bookkeeping only; the run itself succeeded
        print(f"pruneflow: warning: DVC's cache was not updated ({type(exc).__name__}: {exc}); "
              "`dvc status` shows what differs from dvc.lock", file=sys.stderr)
