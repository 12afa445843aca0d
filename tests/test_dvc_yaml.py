"""One stage table (pruneflow/pipeline/stages.py) is the source of dvc.yaml and of the flow's order."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from pruneflow.artifacts import lineage
from pruneflow.config.params import load_config
from pruneflow.config.prune import PruneConfig
from pruneflow.config.studies import ChannelPoint, SweepPoint
from pruneflow.pipeline.stages import (
    BY_NAME,
    SWEEP_POINT,
    generations,
    params_upstream,
    pipeline_stages,
    timing_files,
    upstream,
)
from pruneflow.tools import dvc_yaml
from tests.helpers import REPO


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


def test_committed_dvc_yaml_is_exactly_what_the_stage_table_generates(tmp_path: Path) -> None:
    assert (REPO / "dvc.yaml").read_text() == dvc_yaml.render(), "run `make dvc.yaml`"
    assert dvc_yaml.main(["--check"]) == 0
    stale = tmp_path / "dvc.yaml"
    stale.write_text(dvc_yaml.render().replace("python -m pruneflow prune\n", "python -m pruneflow prune --fast\n"))
    assert dvc_yaml.main(["--check", "--out", str(stale)]) == 1


def test_dvc_yaml_has_exactly_the_registered_stages_in_order(dvc_stages) -> None:
    cfg = load_config(REPO / "params.yaml")
    assert list(dvc_stages) == [stage.name for stage in _registry()]
    assert [name for name in dvc_stages if name.startswith("sweep_point@")] == [
        f"sweep_point@{point.name}" for point in cfg.sweep_points()]
    assert [name for name in dvc_stages if name.startswith("channel_point@")] == [
        f"channel_point@{keep}" for keep in cfg.channels.sweep_keeps]
    assert cfg.main_point() not in cfg.sweep_points()  # the main prune's target is never pruned twice


def _command(stage) -> str:
    if isinstance(stage.point, SweepPoint):  # a sweep point: its sparsity and schedule on the command line, not in params
        return f"python -m pruneflow sweep_point --sparsity {stage.point.sparsity} --schedule {stage.point.schedule}"
    if isinstance(stage.point, ChannelPoint):
        return f"python -m pruneflow channel_point --keep {stage.point.keep}"
    return f"python -m pruneflow {stage.name}"


@pytest.mark.parametrize("stage", _registry(), ids=lambda s: s.name)
def test_each_dvc_stage_declares_the_registry_deps_params_and_outs(dvc_stages, stage) -> None:
    cfg = load_config(REPO / "params.yaml")
    declared = dvc_stages[stage.name]
    assert declared["cmd"] == _command(stage)
    code = {str(p.relative_to(REPO)) for p in stage.sources()}
    data = {str(p) for p in stage.dep_paths(cfg)}
    assert _names(declared.get("deps")) == code | data
    assert _names(declared.get("params")) == set(stage.params)
    outs = _names(declared.get("outs")) | _names(declared.get("metrics")) | _names(declared.get("plots"))
    assert outs == {str(p) for p in stage.out_paths(cfg)}


def test_every_output_persists_so_a_failed_stage_keeps_the_last_good_one(dvc_stages) -> None:
    for name, stage in dvc_stages.items():
        for section in ("outs", "metrics", "plots"):
            for entry in stage.get(section) or []:
                assert isinstance(entry, dict) and next(iter(entry.values())).get("persist") is True, (name, entry)


def _param_columns(params: dict[str, Any], prefix: str = "") -> set[str]:
    """The names `dvc exp show` gives params.yaml's values: dotted paths to every non-mapping value."""
    out = set()
    for key, value in params.items():
        out |= _param_columns(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}"}
    return out


def test_no_dependency_path_is_named_as_a_param_so_dvc_exp_show_can_tabulate_experiments(dvc_stages) -> None:
    # DVC 3.67's `exp show` keys deps and params in one namespace: a dependency folder `seeds` next to the
    # param `seeds` stops it with "unexpected error - 'seeds'" once an experiment exists (tested by hand in a
    # two-file repo; tests/test_dvc_share.py runs `make exp-show` on real experiments)
    columns = _param_columns(yaml.safe_load((REPO / "params.yaml").read_text()))
    for name, stage in dvc_stages.items():
        for path in _names(stage.get("deps")) | _names(stage.get("outs")):
            assert path.rstrip("/") not in columns, (name, path)


def test_metrics_file_is_kept_in_git_not_the_dvc_cache(dvc_stages) -> None:
    assert dvc_stages["evaluate"]["metrics"] == [{"metrics.json": {"cache": False, "persist": True}}]


def test_timing_files_are_no_stages_output_or_dependency_and_timings_json_is_a_top_level_metric(dvc_stages) -> None:
    cfg = load_config(REPO / "params.yaml")
    timing = {str(path) for stage in _registry() for path in stage.timing_paths(cfg)}
    assert {"timings.json", "reports/bench.json", "reports/latency_ms.csv", "reports/channels_latency.json",
            "reports/sweep_latency.csv", "reports/report.md", "reports/timings/train_dense.json",
            "reports/timings/sweep_point@0.5-polynomial.json"} <= timing
    for name, stage in dvc_stages.items():
        listed = set().union(*(_names(stage.get(section)) for section in ("deps", "outs", "metrics", "plots")))
        clash = {(entry, path) for entry in listed for path in timing
                 if entry == path or path.startswith(f"{entry}/") or entry.startswith(f"{path}/")}
        assert clash == set(), name
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    top = yaml.safe_load((REPO / "dvc.yaml").read_text())["metrics"]
    assert [_resolve(entry, params) for entry in top] == ["timings.json"]


def test_a_stage_imports_the_library_never_another_stage() -> None:
    for stage in _registry():
        edges = [p for p in stage.sources() if p.parent.name == "tasks"]
        assert edges == [REPO / "tasks" / f"{stage.name.split('@')[0]}.py"], stage.name
    assert {p.stem for p in (REPO / "tasks").glob("*.py")} - {"__init__"} == set(BY_NAME)  # one edge per stage


def test_stage_sources_follow_library_imports_transitively() -> None:
    names = {p.relative_to(REPO).as_posix() for p in BY_NAME["strip"].sources()}
    # strip's edge imports pruning, which imports model, which imports tf_env: all are strip's code
    assert {"tasks/strip.py", "pruneflow/magnitude/pruning.py", "pruneflow/models/store.py", "pruneflow/tf_env.py",
            "pruneflow/errors.py"} <= names
    assert "pruneflow/evaluation/variants.py" not in names and "pruneflow/evaluation/metrics.py" not in names
    report = {p.relative_to(REPO).as_posix() for p in BY_NAME["report"].sources()}
    assert {"pruneflow/report/render.py", "pruneflow/report/inputs.py"} <= report
    assert "pruneflow/tf_env.py" not in report  # the report never loads TensorFlow


def test_timing_code_is_read_only_by_the_stages_that_time_and_they_run_alone() -> None:
    timing = {stage.name for stage in _registry() if REPO / "pruneflow" / "deploy" / "benchmark.py" in stage.sources()}
    assert timing == {"bench", "sweep", "channel_bench", "latency_table"}
    assert {stage.name for stage in _registry() if stage.timed} == timing


def test_a_sweep_point_reads_no_sweep_list_so_editing_one_sparsity_reruns_only_its_branch(dvc_stages) -> None:
    points = {name: body for name, body in dvc_stages.items() if name.startswith("sweep_point@")}
    for body in points.values():
        assert not any(str(key).startswith(("sweep", "prune.final_sparsity", "prune.schedule"))
                       for key in _names(body.get("params")))
    assert len({tuple(_names(body["outs"])) for body in points.values()}) == len(points)  # own folders


def test_a_new_prune_param_joins_the_sweep_points_params_without_editing_the_table() -> None:
    recipe = {f"prune.{key}" for key in PruneConfig.model_fields} - {
        "prune.final_sparsity", "prune.schedule", "prune.sparsity_m_by_n"}
    assert recipe <= set(BY_NAME[SWEEP_POINT].params) and recipe <= set(BY_NAME["sweep_derived"].params)


def test_the_flow_runs_stages_in_waves_after_everything_they_read() -> None:
    cfg = load_config(REPO / "params.yaml")
    stages = _registry()
    waves = generations(stages, cfg)
    wave_of = {stage.name: i for i, wave in enumerate(waves) for stage in wave}
    assert sorted(wave_of) == sorted(stage.name for stage in stages)
    graph = upstream(stages, cfg)
    assert graph["prune"] == {"ingest", "train_dense"} and graph["ingest"] == set()
    assert all(wave_of[before] < wave_of[name] for name, reads in graph.items() for before in reads)
    # every sweep point fans out beside the main prune: they read the same dense model and nothing else
    assert {wave_of[name] for name in wave_of if name.startswith("sweep_point@")} == {wave_of["prune"]}


def test_stage_sources_exist() -> None:
    for stage in _registry():
        assert all(isinstance(p, Path) and p.is_file() for p in stage.sources()), stage.name


def test_lineage_names_the_params_upstream_of_evaluate_as_the_stage_table_does() -> None:
    cfg = load_config(REPO / "params.yaml")
    assert lineage.leaf_keys(cfg, lineage.METRICS_PARAMS) == lineage.leaf_keys(cfg, params_upstream(cfg, "evaluate"))
    # a key no stage upstream of evaluate reads (where the report is written) is not in the digest; one
    # upstream is. (Since evaluate judges every sweep point against sweep.accuracy_budget_pts, every
    # params section is upstream of it.)
    changed = cfg.model_copy(update={"paths": cfg.paths.model_copy(update={"report_md": Path("elsewhere.md")})})
    assert lineage.metrics_digest(changed) == lineage.metrics_digest(cfg)
    changed = cfg.model_copy(update={"sweep": cfg.sweep.model_copy(update={"accuracy_budget_pts": 2.0})})
    assert lineage.metrics_digest(changed) != lineage.metrics_digest(cfg)
    changed = cfg.model_copy(update={"bench": cfg.bench.model_copy(update={"runs": cfg.bench.runs + 1})})
    assert lineage.metrics_digest(changed) != lineage.metrics_digest(cfg)


def test_lineage_names_the_timing_files_the_stage_table_marks() -> None:
    cfg = load_config(REPO / "params.yaml")
    assert lineage.timing_files(cfg) == timing_files(cfg)
