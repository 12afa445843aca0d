"""The git and DVC side of the PR comment (`pruneflow.tools.pr_comment`): what `dvc params/metrics/plots
diff` say between a base revision and the workspace, parsed (changed plots, flat metrics per side, what
DVC could not read), the checks that the working directory is a git+DVC root, and the per-image
predictions at a revision (`git show`) paired into each headline model's accuracy change.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from pruneflow.config.params import load_config
from pruneflow.errors import PipelineError
from pruneflow.stats.differences import revision_changes
from pruneflow.stats.paired import Paired

WORKSPACE = "workspace"  # DVC's name for the working tree in diff output


@dataclass(frozen=True)
class ChangedPlot:
    """A declared DVC plot whose content differs between the base revision and the workspace."""

    name: str  # file path, or the plot id of a top-level `plots:` definition
    kind: Literal["image", "data"]
    status: Literal["changed", "new", "removed"]


def _status(in_base: bool, in_workspace: bool) -> Literal["changed", "new", "removed"]:
    return "changed" if in_base and in_workspace else ("new" if in_workspace else "removed")


def changed_plots(plots: dict[str, list[dict[str, Any]]], image_bytes: Callable[[str], bytes]) -> list[ChangedPlot]:
    """The plots of `dvc plots diff <base> --json`'s `data` whose base and workspace versions differ.

    Args:
        plots: plot name → DVC's entries: images (one per revision, with a `url`) or vega specs
            (data points tagged with their `rev`).
        image_bytes: reads an image entry's `url`.

    Returns:
        The changed plots, sorted by name.
    """
    changed = []
    for name, entries in sorted(plots.items()):
        images = {e["revisions"][0]: e["url"] for e in entries if e.get("type") == "image"}
        if images:
            by_rev = {rev: image_bytes(url) for rev, url in images.items()}
            kind: Literal["image", "data"] = "image"
        else:
            # Compare the parsed rows, not the spec: DVC tags every row with its revision.
            by_rev = {}
            for entry in entries:
                for row in entry.get("content", {}).get("data", {}).get("values", []):
                    rest = {k: v for k, v in row.items() if k != "rev"}
                    by_rev.setdefault(row.get("rev"), []).append(json.dumps(rest, sort_keys=True))
            kind = "data"
        base = [rev for rev in by_rev if rev != WORKSPACE]
        old, new = (by_rev[base[0]] if base else None), by_rev.get(WORKSPACE)
        if old != new:
            changed.append(ChangedPlot(name, kind, _status(old is not None, new is not None)))
    return changed


# DVC exits 0 when it cannot read a revision's params/metrics and only warns: these lines must not
# turn into "No metrics changed".
_LOAD_WARNING = re.compile(r"^WARNING: failed to load (\w+) in revision '(.+?)', (.*)$")


def load_failures(stderr: str) -> list[tuple[str, str]]:
    """(revision, message) for each `WARNING: failed to load <what> in revision '<rev>', <why>` DVC printed."""
    found = []
    for line in stderr.splitlines():
        if match := _LOAD_WARNING.match(line.strip()):
            what, rev, why = match.groups()
            found.append((rev, f"{what}: {why}"))
    return found


def plot_failures(errors: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(revision, message) for each entry of `dvc plots diff --json`'s `errors`."""
    found = []
    for error in errors:
        name = error.get("name") or error.get("source")
        why = (str(error.get("msg") or error.get("type")).splitlines() or ["?"])[0]
        found.append((error.get("rev", "?"), f"plots{f' ({name})' if name else ''}: {why}"))
    return found


def flat_revisions(diff: dict[str, dict[str, dict[str, Any]]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(base, workspace) flat metrics from `dvc metrics diff --json --all`, every metrics file merged by
    dotted key (metrics.json and timings.json share one layout; a base from before the split holds all
    its fields in metrics.json)."""
    base: dict[str, Any] = {}
    head: dict[str, Any] = {}
    for fields in diff.values():
        for key, entry in fields.items():
            if entry.get("old") is not None:
                base[key] = entry["old"]
            if entry.get("new") is not None:
                head[key] = entry["new"]
    return base, head


# ---- edge: git, dvc and files ----


def _run(cmd: list[str], what: str) -> subprocess.CompletedProcess:
    """`cmd`'s result; a failure becomes one line naming `what` and the tool's last stderr line."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as exc:
        raise PipelineError(f"{what}: cannot run {cmd[0]} ({exc.strerror})") from None
    if proc.returncode:
        last = next((line for line in reversed(proc.stderr.splitlines()) if line.strip()), f"exit {proc.returncode}")
        raise PipelineError(f"{what}: {last.strip()}")
    return proc


def _split_failures(what: str, failures: list[tuple[str, str]]) -> list[str]:
    """Notes for the base revision's failures; a workspace failure ends the run (its outputs are missing)."""
    for rev, message in failures:
        if rev == WORKSPACE:
            raise PipelineError(f"{what}: workspace: {message}; allowed: a workspace where `dvc repro` ran through")
    return [message for _, message in failures]


def dvc_diff(kind: str, base: str, *options: str) -> tuple[str, list[str]]:
    """`dvc <kind> diff <base> <options>` output and the notes on what DVC could not read at `base`."""
    what = f"dvc {kind} diff {base}"
    # The interpreter running this module has DVC installed (same venv): no PATH lookup needed.
    proc = _run([sys.executable, "-m", "dvc", kind, "diff", base, *options], what)
    return proc.stdout, _split_failures(what, load_failures(proc.stderr))


def metrics_revisions(base: str) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Flat metrics at `base` and in the workspace (every DVC metrics file), and notes on `base`."""
    raw, notes = dvc_diff("metrics", base, "--json", "--all")
    try:
        return (*flat_revisions(json.loads(raw) if raw.strip() else {}), notes)
    except (ValueError, AttributeError, TypeError):
        raise PipelineError(f"dvc metrics diff {base} --json: unexpected output; allowed: dvc 3.x") from None


def check_repo(base: str) -> None:
    """Fail with one line unless the working directory is a git+DVC repo root and `base` a commit in it."""
    here = Path.cwd()
    inside = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], capture_output=True, text=True)
    if inside.returncode or inside.stdout.strip() != "true":
        raise PipelineError(f"{here}: not a git repository; allowed: the root of a pruneflow checkout (git + DVC)")
    if not (here / ".dvc").is_dir():
        raise PipelineError(f"{here}: not a DVC repository root (no .dvc/); allowed: the folder holding .dvc/")
    # A leading dash would be read as an option by git and dvc.
    known = not base.startswith("-") and not subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"], capture_output=True
    ).returncode
    if not known:
        raise PipelineError(
            f"--base={base}: not a git revision in this repo; allowed: a branch, tag or commit (e.g. main, HEAD~1)"
        )


def collect_changed_plots(base: str) -> tuple[list[ChangedPlot], dict[str, bytes], list[str]]:
    """The changed plots against `base`, the workspace bytes of each changed image, notes on `base`."""
    what = f"dvc plots diff {base}"
    with tempfile.TemporaryDirectory(prefix="pruneflow-plots-") as tmp:
        # `-o`: DVC copies each revision's images there (and leaves the workspace alone).
        raw = _run([sys.executable, "-m", "dvc", "plots", "diff", base, "--json", "-o", tmp], what).stdout
        try:
            found = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise PipelineError(f"{what} --json: output is not JSON") from None
        try:
            notes = _split_failures(what, plot_failures(found.get("errors", [])))
            plots = found.get("data", {})
            changed = changed_plots(plots, lambda url: Path(url).read_bytes())
            images = {
                p.name: Path(next(e["url"] for e in plots[p.name] if e["revisions"][0] == WORKSPACE)).read_bytes()
                for p in changed
                if p.kind == "image" and p.status != "removed"
            }
        except (AttributeError, KeyError, IndexError, TypeError, StopIteration, OSError) as exc:
            # Written against DVC 3.67's layout: a future change should read as one line, not a traceback.
            raise PipelineError(f"{what} --json: unexpected layout ({type(exc).__name__}: {exc}); allowed: dvc 3.x") from None
    return changed, images, notes


def predictions_at(revision: str | None, path: Path) -> pd.DataFrame | None:
    """The per-image predictions table at a git revision (None: the workspace's file), or None where
    there is none (a revision from before it was kept, or a missing file)."""
    if revision is None:
        return pd.read_csv(path) if path.is_file() else None
    shown = subprocess.run(["git", "show", f"{revision}:{path.as_posix()}"], capture_output=True)
    if shown.returncode:
        return None
    try:
        return pd.read_csv(io.BytesIO(shown.stdout))
    except (ValueError, pd.errors.ParserError):
        return None


def accuracy_changes(base: str) -> dict[str, Paired | str]:
    """Each headline model's accuracy change from `base` to the workspace, paired on the per-image
    predictions both revisions hold (`paths.predictions`); empty when the workspace has none or its
    params do not validate (the comment then says no predictions were compared)."""
    try:
        path = Path(load_config().paths.predictions)
    except PipelineError:
        return {}
    head = predictions_at(None, path)
    return {} if head is None else revision_changes(predictions_at(base, path), head)
