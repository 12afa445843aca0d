"""Shared fixtures: an isolated Prefect home, a test run from tmp_path, and the one tiny pipeline build
per test session (`dvc_build`, and `flow_build` of the same inputs by the Prefect flow), shared by
pytest-xdist workers behind a file lock. The tiny configs and test images are in tests/helpers.py; the
build's recipe and the helpers that run DVC in it are in tests/builds.py."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pruneflow.artifacts.results import EXECUTION_LOG
from tests.builds import build_with_dvc, build_with_flow


def pytest_configure(config: pytest.Config) -> None:
    # One Prefect home per test session: its own database and result storage, so tests never
    # see (or lock) the user's ~/.prefect. Set before anything imports prefect.
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="pruneflow-test-prefect-")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    # A temporary Prefect server per process starts in 8–16 s, longer beside two busy stages: the
    # default 20 s wait failed a flow build on the loaded 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    # Every stage execution of the session (in-process, under DVC, the flow or Dask) appends a line here;
    # set once by the controller, inherited by the xdist workers and every process they start.
    os.environ.setdefault(EXECUTION_LOG, tempfile.mkstemp(prefix="pruneflow-test-stages-", suffix=".jsonl")[1])


def executions_by_file(log: Path) -> dict[str, list[dict[str, Any]]]:
    """The stage executions in `log`, grouped by where they happened: `shared builds`, or the test file
    whose test (or fixture) caused them."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for line in log.read_text().splitlines() if log.exists() else []:
        entry = json.loads(line)
        where = "shared builds" if Path(entry["cwd"]).name in BUILDS else entry["test"].split("::")[0] or "?"
        groups.setdefault(where, []).append(entry)
    return groups


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """How many stage executions the session made, and where (docs/tests.md quotes it)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    groups = executions_by_file(Path(os.environ[EXECUTION_LOG]))
    total = sum(len(entries) for entries in groups.values())
    seconds = sum(entry["seconds"] for entries in groups.values() for entry in entries)
    terminalreporter.write_sep("-", f"{total} stage executions, {seconds / 60:.1f} min of stage time")
    for where, entries in sorted(groups.items(), key=lambda item: -sum(e["seconds"] for e in item[1])):
        terminalreporter.write_line(f"{len(entries):4d} executions {sum(e['seconds'] for e in entries):7.0f} s  {where}")


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test from an empty tmp_path (all params paths are relative to the working directory)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# The shared builds' limit: a build runs inside the first test that asks for it (or waits for it), so
# while it runs, that test's pytest-timeout alarm (120 s, pyproject.toml) is pushed out to this many
# seconds, then set back to the time the test had left. Side by side at the start of a clean-clone suite
# the flow's build took 6.8 min and DVC's 8.2 min (10 min under load; docs/tests.md); a build past this
# fails every test that needs it.
BUILD_TIMEOUT_S = 900


@contextlib.contextmanager
def build_deadline(seconds: float = BUILD_TIMEOUT_S) -> Iterator[None]:
    """pytest-timeout's alarm (signal method) moved to `seconds` from now while the block runs, then
    restored to what the test had left. Without an alarm (no timeout set) it changes nothing."""
    left, _ = signal.getitimer(signal.ITIMER_REAL)
    if left:
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        if left:
            signal.setitimer(signal.ITIMER_REAL, left)


def shared_build(name: str, build: Callable[[Path], None], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build once per test session, whichever xdist worker asks first; the others wait on the lock.
    A failed build is reported to every test that needs it, and not retried. Bounded by
    `BUILD_TIMEOUT_S` instead of the test's own limit."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    root, failed = shared / name, shared / f"{name}.failed"
    with build_deadline(), _locked(shared / f"{name}.lock"):
        if failed.exists():
            pytest.fail(f"the shared {name} failed earlier in this session:\n{failed.read_text()}")
        if not (root / ".built").exists():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir()
            try:
                build(root)
            except BaseException as exc:
                failed.write_text(str(exc))
                raise
            (root / ".built").write_text("")
    return root


BUILDS = {"dvc_build": build_with_dvc, "flow_build": build_with_flow}


@pytest.hookimpl(trylast=True)  # after -m has deselected
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    # Which shared builds the selected tests need: `make test-fast` (-m "not slow") builds none.
    config.stash[_NEEDED] = {name for item in items for name in BUILDS if name in getattr(item, "fixturenames", ())}


_NEEDED = pytest.StashKey[set]()


@pytest.fixture(scope="session", autouse=True)
def _start_builds_in_parallel(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> None:
    """With two xdist workers, each starts one build as soon as it starts (gw0 DVC's, gw1 the flow's),
    so the two builds run side by side instead of one after the other when tests first ask."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    order = {"gw0": "dvc_build", "gw1": "flow_build"}
    name = order.get(worker)
    if name and name in request.config.stash.get(_NEEDED, set()):
        try:
            shared_build(name, BUILDS[name], tmp_path_factory)
        except (Exception, pytest.fail.Exception):  # recorded in <name>.failed: the tests that need it report it
            pass


@pytest.fixture(scope="session")
def dvc_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny pipeline, reproduced once per session by `dvc repro`. Read it; copy it to change it."""
    return shared_build("dvc_build", build_with_dvc, tmp_path_factory)


@pytest.fixture(scope="session")
def flow_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same inputs built once per session by the Prefect flow. Read it; copy it to change it."""
    return shared_build("flow_build", build_with_flow, tmp_path_factory)

