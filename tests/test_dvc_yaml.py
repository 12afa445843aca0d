"""dvc.yaml and tasks/stages.py describe the same pipeline: same code deps, params keys and outputs."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from pruneflow.config import load_config
from pruneflow.stages import pipeline_stages
from tests.conftest import REPO


def _resolve(text: str, params: dict[str, Any]) -> str:
    def lookup(match: re.Match) -> str:
        value: Any = params
        for part in match.group(1).split("."):
            value = value[part]
        return str(value)

    return re.sub(r"\$\{([^}]+)\}", lookup, text)


def _names(entries: list) -> set[str]:
    return {next(iter(e)) if isinstance(e, dict) else e for e in entries or []}


def _expand(stages: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """DVC's matrix expansion: one stage per combination, named `<stage>@<v1>-<v2>` in key order."""
    out = {}
    for name, body in stages.items():
        if "matrix" not in body:
            out[name] = yaml.safe_load(_resolve(yaml.safe_dump(body), params))
            continue
        axes = {key: yaml.safe_load(_resolve(str(values), params)) for key, values in body["matrix"].items()}
        template = yaml.safe_dump({k: v for k, v in body.items() if k != "matrix"})
        for combo in itertools.product(*axes.values()):
            item = dict(zip(axes, combo))
            out[f"{name}@{'-'.join(str(v) for v in combo)}"] = yaml.safe_load(_resolve(template, {**params, "item": item}))
    return out


@pytest.fixture(scope="module")
def dvc_stages() -> dict[str, Any]:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    return _expand(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"], params)


def _registry() -> tuple:
    return pipeline_stages(load_config(REPO / "params.yaml"))


def test_dvc_yaml_has_exactly_the_registered_stages_in_order(dvc_stages) -> None:
    assert list(dvc_stages) == [stage.name for stage in _registry()]
    assert [name for name in dvc_stages if name.startswith("sweep_point@")] == [
        "sweep_point@0.5-polynomial", "sweep_point@0.7-polynomial", "sweep_point@0.8-polynomial",
        "sweep_point@0.9-polynomial", "sweep_point@0.95-polynomial"]


def _command(stage) -> str:
    if stage.args:  # a sweep point: its sparsity and schedule on the command line, not in params
        point = stage.args[0]
        return f"python -m pruneflow sweep_point --sparsity {point.sparsity} --schedule {point.schedule}"
    return f"python -m pruneflow {stage.name}"


@pytest.mark.parametrize("stage", _registry(), ids=lambda s: s.name)
def test_each_dvc_stage_declares_the_registry_deps_params_and_outs(dvc_stages, stage) -> None:
    cfg = load_config(REPO / "params.yaml")
    declared = dvc_stages[stage.name]
    assert declared["cmd"] == _command(stage)
    code = {str(p.relative_to(REPO)) for p in stage.sources()}
    data = {str(p) for p in stage.deps(cfg)}
    assert _names(declared.get("deps")) == code | data
    assert _names(declared.get("params")) == set(stage.params)
    outs = _names(declared.get("outs")) | _names(declared.get("metrics")) | _names(declared.get("plots"))
    assert outs == {str(p) for p in stage.outs(cfg)}


def test_every_output_persists_so_a_failed_stage_keeps_the_last_good_one(dvc_stages) -> None:
    for name, stage in dvc_stages.items():
        for section in ("outs", "metrics", "plots"):
            for entry in stage.get(section) or []:
                assert isinstance(entry, dict) and next(iter(entry.values())).get("persist") is True, (name, entry)


def test_metrics_file_is_kept_in_git_not_the_dvc_cache(dvc_stages) -> None:
    (entry,) = dvc_stages["evaluate"]["metrics"]
    assert entry == {"metrics.json": {"cache": False, "persist": True}}


def test_stage_sources_exist() -> None:
    for stage in _registry():
        assert all(isinstance(p, Path) and p.is_file() for p in stage.sources()), stage.name


def test_stage_sources_follow_package_imports_transitively() -> None:
    from pruneflow.stages import BY_NAME

    names = {p.name for p in BY_NAME["strip"].sources()}
    # strip imports prune, which imports model, which imports tf_env: all are strip's code
    assert {"strip.py", "prune.py", "model.py", "tf_env.py", "errors.py"} <= names
    assert "evaluate.py" not in names and "metrics.py" not in names


def test_a_sweep_point_reads_no_sweep_list_so_editing_one_sparsity_reruns_only_its_branch(dvc_stages) -> None:
    points = {name: body for name, body in dvc_stages.items() if name.startswith("sweep_point@")}
    for body in points.values():
        assert not any(str(key).startswith(("sweep", "prune.final_sparsity", "prune.schedule"))
                       for key in _names(body.get("params")))
    assert len({tuple(_names(body["outs"])) for body in points.values()}) == len(points)  # own folders
