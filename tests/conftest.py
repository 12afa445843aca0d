"""Shared fixtures: tiny configs in tmp_path, images the tests write themselves, an isolated Prefect
home, and the one tiny pipeline build per test session (`dvc_build`, and `flow_build` of the same
inputs by the Prefect flow), shared by pytest-xdist workers behind a file lock."""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image

from pruneflow.config.params import load_config
from pruneflow.pipeline.dvc_cache import stale
from pruneflow.artifacts.files import digest
from pruneflow.config.paths import PathsConfig
from pruneflow.pipeline.stages import STAGES, pipeline_stages
from pruneflow.artifacts.results import EXECUTION_LOG

REPO = Path(__file__).resolve().parents[1]


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


# Smallest config that still exercises every stage: the toy architecture (pruneflow/models/toy.py: a dozen
# layers, a TFLite conversion in about a second) at 32 px, a handful of images per class, one epoch
# everywhere. A claim about a real family runs in-process on a model built without training.
TINY: dict[str, Any] = {
    "seed": 7,
    "data": {"source": "mnist5k", "image_size": 32, "samples_per_class": 8,
             "val_fraction": 0.25, "test_fraction": 0.25},
    "model": {"architecture": "toy", "alpha": 0.5, "dense_units": 16},
    "train": {"epochs": 1, "min_steps": 0, "batch_size": 16, "warmup_epochs": 0, "min_margin_pts": None},
    "prune": {"epochs": 2, "min_steps": 20, "frequency": 1, "final_sparsity": 0.8, "learning_rate": 0.0001},
    # Float TFLite only and no PQAT: each extra format costs a conversion in every end-to-end test;
    # tests/test_deploy.py runs every format once.
    "quantize": {"representative_samples": 4, "pqat": False, "pqat_epochs": 1},
    "export": {"formats": ["float"]},
    "bench": {"warmup": 1, "runs": 5, "batch": 4, "batch_warmup": 0, "batch_runs": 3, "threads": [1]},
    # One sweep point besides the main prune's own (0.8) and a two-level scan.
    "sweep": {"sparsities": [0.5], "schedules": ["polynomial"]},
    "sensitivity": {"sparsities": [0.5, 0.9], "target_sparsity": 0.8, "derive": False},
    # No latency budget in the shared build: tests/test_budget.py adds one where it is the subject.
    "channels": {"min_steps": 0, "budget": None, "budget_series": []},
}


def deep_update(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of `base` with nested `changes` applied."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_update(out[key], value)
        else:
            out[key] = value
    return out


def write_params(directory: Path, changes: dict[str, Any] | None = None) -> Path:
    """Write the shipped params.yaml made tiny (plus `changes`) into `directory`; return its path.

    Every key stays present: dvc.yaml templates `paths.*` and `data.folder` from the file itself.
    """
    shipped = yaml.safe_load((REPO / "params.yaml").read_text())
    path = directory / "params.yaml"
    path.write_text(yaml.safe_dump(deep_update(deep_update(shipped, TINY), changes or {}), sort_keys=False))
    return path


def write_image_folder(root: Path, classes: dict[str, int], size: int = 40, mode: str = "RGB") -> Path:
    """A class-per-subfolder dataset: class k is a bright square at a class-specific corner plus noise."""
    rng = np.random.default_rng(0)
    for k, (name, count) in enumerate(classes.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            img = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
            r, c = (k % 2) * size // 2, (k // 2 % 2) * size // 2
            img[r : r + size // 2, c : c + size // 2] = 230
            Image.fromarray(img).convert(mode).save(root / name / f"img_{i:03d}.png")
    return root


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test from an empty tmp_path (all params paths are relative to the working directory)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_stripes(root: Path, per_class: int, size: int = 32) -> None:
    """Two texture classes the toy architecture learns in seconds: horizontal vs vertical stripes of random
    period and phase, plus noise (a texture survives global pooling; a position would not)."""
    rng = np.random.default_rng(0)
    for k, name in enumerate(("horizontal", "vertical")):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            period = int(rng.integers(4, 9))
            stripes = ((np.arange(size) + rng.integers(0, period)) // (period // 2) % 2 * 200).astype(np.int64)
            img = np.tile(stripes[:, None], (1, size)) if k == 0 else np.tile(stripes[None, :], (size, 1))
            img = np.clip(img[..., None] + rng.integers(0, 50, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / name / f"{i:03d}.png")


ALL_FORMATS = ("float", "dynamic_range", "int8", "sparse", "sparse_int8")

# The shared build: a run that learns, on the toy architecture (pruneflow/models/toy.py, about 30 layers: a
# stage's TFLite conversion takes about a second, a MobileNet's 16–19 s). Stripes: the toy reaches
# ~100 % dense test accuracy in 12 quick epochs; pruned to 80 % in 6; float and int8 TFLite (what the
# sweep table reads), one more sweep point and the derived point. 200 images per class, so 100 test
# images (with 100 per class a MobileNet build was marginal and int8 flipped borderline images). int8 is
# calibrated on 100 train images: with 8 a rerun lost 8 points to clipped activation ranges (a
# calibration fault). The other formats and PQAT are exported once, by tests/test_deploy.py, so the
# builds and every rerun of the export stage stay short.
BUILD: dict[str, Any] = {
    "data": {"source": "folder", "samples_per_class": None, "val_fraction": 0.2, "test_fraction": 0.25},
    "model": {"architecture": "toy", "alpha": 1.0, "dense_units": 32},
    "train": {"epochs": 12, "min_steps": 0, "batch_size": 16, "learning_rate": 0.003, "min_margin_pts": 10},
    "prune": {"epochs": 6, "min_steps": 20, "learning_rate": 0.002, "final_sparsity": 0.8},
    "quantize": {"pqat": False, "pqat_epochs": 1, "representative_samples": 100},
    "export": {"formats": ["float", "int8"]},
    "bench": {"threads": [1, 2]},
    "sweep": {"sparsities": [0.5]},
    # 0.99 as well: the toy loses nothing at 0.9 in any unit, and the derived targets need differing drops
    "sensitivity": {"sparsities": [0.5, 0.9, 0.99], "target_sparsity": 0.5, "derive": True},
    # channel pruning at half width and one more kept fraction (the flow fans both series out);
    # latency at 64 px stands in for 224 px (the same conversion, a fraction of the timing)
    "channels": {"keep": 0.5, "sweep_keeps": [0.25], "multiple": 4, "epochs": 2, "min_steps": 0, "resolution": 64, "resolution_runs": 20},
}


def run_command(cmd: list[str], cwd: Path, check: bool = True, env: dict[str, str] | None = None,
                timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run `cmd` with this interpreter's scripts (dvc) first on PATH; raise with its output if it fails."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **(env or {})}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}")
    return proc


def dvc(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`dvc <args>` in `repo`."""
    return run_command([sys.executable, "-m", "dvc", *args], repo, check)


def clone_layout(root: Path, dvc_yaml: bool = True) -> Path:
    """What a clone of this project has before any run, in `root`: the code, dvc.yaml (unless the caller
    regenerates it) and the committed folders that stages list as DVC dependencies."""
    for name in ("pruneflow", "tasks", "flows"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", ".dvcignore") if dvc_yaml else (".dvcignore",):
        shutil.copy(REPO / name, root / name)
    paths = PathsConfig()
    # train_dense's DVC dependency (paths.own_models: where a model.file lives), with its README
    shutil.copytree(REPO / paths.own_models, root / paths.own_models)
    # evaluate's DVC dependency (paths.seeds: the extra seeds' folders), kept in git by its README
    shutil.copytree(REPO / paths.seeds, root / paths.seeds,
                    ignore=lambda folder, names: [n for n in names if n != "README.md"])
    return root


def project_copy(root: Path) -> Path:
    """This project's pipeline (code, dvc.yaml) with the shared build's data and params, in `root`."""
    clone_layout(root)
    shutil.copy(REPO / "tests" / "kill_at_commit.py", root)
    write_stripes(root / "data" / "raw", per_class=200)
    write_params(root, BUILD)
    return root


def build_with_dvc(root: Path) -> None:
    """A git+DVC repo of the project, reproduced as `make run` does (`pruneflow.tools.repro`, then `dvc repro`)
    and committed ("baseline")."""
    project_copy(root)
    for cmd in (["git", "init", "-q"], ["git", "config", "user.email", "t@example.com"],
                ["git", "config", "user.name", "test"]):
        run_command(cmd, root)
    dvc(root, "init", "-q")
    dvc(root, "config", "core.analytics", "false")
    # as `make run` does: the runner (independent stages side by side), then a plain `dvc repro`
    (root / "repro.log").write_text(run_command([sys.executable, "-m", "pruneflow.tools.repro", "--jobs", "2"], root).stdout)
    (root / "repro_after.log").write_text(dvc(root, "repro").stdout)
    run_command(["git", "add", "-A"], root)
    run_command(["git", "commit", "-qm", "baseline"], root)


def build_with_flow(root: Path) -> None:
    """The same project and inputs built from scratch by the Prefect flow (`python -m flows.pipeline`),
    with a Prefect home of its own (xdist workers each have theirs)."""
    project_copy(root)
    home = Path(tempfile.mkdtemp(prefix="pruneflow-build-prefect-"))
    (root / "flow.log").write_text(run_command([sys.executable, "-m", "flows.pipeline"], root,
                                               env={"PREFECT_HOME": str(home)}).stdout)


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


def copy_build(build: Path, dst: Path) -> Path:
    """A private, writable copy of a shared build (git history, DVC cache and flow cache included),
    without the shared build's `.built` marker (not a project file: git would see it untracked)."""
    shutil.copytree(build, dst, symlinks=True, ignore=lambda folder, names: [".built"] if folder == str(build) else [])
    return dst


def build_config(root: Path):
    """The build's config with every path absolute under `root` (for in-process use from any cwd)."""
    cfg = load_config(root / "params.yaml")
    return cfg.model_copy(update={"paths": cfg.paths.model_copy(
        update={k: root / v for k, v in cfg.paths.model_dump().items()})})


# ----------------------------------------------------------------------------- DVC helpers


def stages_run(output: str) -> set[str]:
    """The stages a `dvc repro` output says ran because something changed: not the ones that run every
    time (`Stage.always`: the machine stage, whose unchanged output reruns nothing)."""
    always = {stage.name for stage in STAGES if stage.always}
    return set(re.findall(r"Running stage '([^']+)'", output)) - always


def edit_params(repo: Path, changes: dict[str, dict]) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for section, values in changes.items():
        params[section].update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def published_by(stage, cfg, timing_outputs: bool = False) -> tuple[Path, ...]:
    """A stage's DVC outputs, and with `timing_outputs` the timing files it publishes together with
    them (its stage timing file, written after the publish, is not one of them)."""
    return (*stage.out_paths(cfg), *(stage.timing_out_paths(cfg) if timing_outputs else ()))


def outputs(repo: Path, timing_outputs: bool = False) -> dict[str, str]:
    """Digest of every output of every stage (see `published_by`), by path; "missing" where absent."""
    cfg = load_config(repo / "params.yaml")
    return {str(out): digest(repo / out) if (repo / out).exists() else "missing"
            for stage in pipeline_stages(cfg) for out in published_by(stage, cfg, timing_outputs)}


def dvc_status(repo: Path) -> dict:
    """`dvc status --json`: each stage that must rerun, with what changed (not the machine stage, which
    DVC lists as "always changed" every time)."""
    return stale(json.loads(dvc(repo, "status", "--json").stdout))


def changed_stages(repo: Path) -> set[str]:
    """The stages `dvc status` says must rerun (their own code, deps, params or outputs changed)."""
    return set(dvc_status(repo))


def replace_outputs(source: Path, repo: Path, timing: bool) -> None:
    """Every DVC output (and, with `timing`, every timing file) of the build `source` in place of `repo`'s,
    but `repo`'s own measurements of the machine (the latency table: each build measures its own, and
    reuses it; see `Out.measured`)."""
    cfg = load_config(repo / "params.yaml")
    for stage in pipeline_stages(cfg):
        measured = set(stage.measured_paths(cfg))
        for path in (*stage.out_paths(cfg), *(stage.timing_paths(cfg) if timing else ())):
            if path in measured:
                continue
            target = repo / path
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            target.parent.mkdir(parents=True, exist_ok=True)
            copier = shutil.copytree if (source / path).is_dir() else shutil.copy2
            copier(source / path, target)
