"""The session's shared build (`dvc_build`, `flow_build` in tests/conftest.py): its recipe, how it is
built and copied, and the helpers that run DVC in a build or a copy of it and read what it says."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from pruneflow.artifacts.files import digest
from pruneflow.config.params import load_config
from pruneflow.config.paths import PathsConfig
from pruneflow.pipeline.dvc_cache import stale
from pruneflow.pipeline.stages import STAGES, pipeline_stages
from tests.helpers import REPO, write_params, write_stripes

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
