"""The library's layout as rules over folders: subpackages by concern, imports one way, a map a
newcomer can read, and code deps that rerun only what an edit can change (no TensorFlow loaded)."""

from __future__ import annotations

import ast
import graphlib
from collections import defaultdict
from pathlib import Path

import pytest

from pruneflow.pipeline.stages import STAGES
from tests.helpers import REPO

LIBRARY = REPO / "pruneflow"
# The layer order, low to high: a package imports only packages on lower layers (`errors` and `tf_env`
# are leaves every layer may use). pipeline/, tools/ and __main__ sit on top.
LAYERS = [("errors", "tf_env"), ("config",), ("artifacts",), ("stats", "models"), ("deploy",),
          ("magnitude", "channels"), ("latency",), ("evaluation",), ("report",), ("pipeline",), ("tools",),
          ("__main__",)]
RANK = {node: rank for rank, nodes in enumerate(LAYERS) for node in nodes}
TOP_LEVEL = {"__init__", "__main__", "errors", "tf_env"}
MAX_LINES = 300

TRAINING_STAGES = {"train_dense", "prune", "pqat", "channel_prune", "channel_point", "stacked", "uniform_baseline",
                   "sweep_point", "sweep_derived", "seed_run", "channel_budget", "sensitivity"}
CHANNEL_STAGES = {"channel_prune", "channel_point", "uniform_baseline", "channel_budget"}
MAGNITUDE_STAGES = {"prune", "strip", "pqat", "sensitivity", "sweep_point", "sweep_derived"}
DEPLOY_STAGES = {"bench", "export", "latency_table"}


def _node(path: Path) -> str:
    """The import-graph node of a library file: its subpackage, or its own name at the top level."""
    parts = path.relative_to(LIBRARY).with_suffix("").parts
    return parts[0]


def _imported_nodes(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pruneflow"):
            names = [node.module] if node.module != "pruneflow" else [f"pruneflow.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names if alias.name.startswith("pruneflow.")]
        found.update(name.split(".")[1] for name in names if "." in name)
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in LIBRARY.rglob("*.py"):
        node = _node(path)
        graph[node].update(_imported_nodes(path) - {node})
    return graph


def _sources(stage_kinds: set[str]) -> dict[str, set[str]]:
    """Stage name → its code deps as repository paths, for the stages named."""
    return {s.name: {p.relative_to(REPO).as_posix() for p in s.sources()} for s in STAGES if s.name in stage_kinds}


def test_only_the_entry_point_the_error_type_and_tensorflows_loader_sit_at_the_top_level() -> None:
    assert {path.stem for path in LIBRARY.glob("*.py")} == TOP_LEVEL


def test_every_subpackage_and_top_level_module_has_a_place_in_the_layer_order() -> None:
    assert set(_graph()) <= set(RANK) | {"__init__"}
    assert {p.name for p in LIBRARY.iterdir() if p.is_dir() and (p / "__init__.py").is_file()} <= set(RANK)


def _upward(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Imports from a node to one on the same or a higher layer (the two leaves excepted)."""
    return sorted((source, target) for source, targets in graph.items() for target in targets
                  if source in RANK and RANK[target] >= RANK[source] and target not in ("errors", "tf_env"))


def test_the_import_graph_has_at_most_twenty_nodes_and_no_import_runs_back_up_the_layers() -> None:
    graph = _graph()
    assert len(set(graph) | {n for targets in graph.values() for n in targets}) <= 20
    assert _upward(graph) == []  # same layer counts too: magnitude and channels never import each other


def test_the_order_rule_catches_an_import_back_up_the_layers_or_across_one() -> None:
    graph = _graph()
    assert _upward({**graph, "models": graph["models"] | {"report"}}) == [("models", "report")]
    assert _upward({**graph, "channels": graph["channels"] | {"magnitude"}}) == [("channels", "magnitude")]


def _module_graph() -> dict[str, set[str]]:
    """Library module → the library modules it imports (`from pruneflow.x import y` names module y when
    y is one, else module x)."""
    name = lambda path: ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
    modules = {name(path) for path in LIBRARY.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in LIBRARY.rglob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pruneflow"):
                found.update(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                             for a in node.names)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("pruneflow"))
        graph[name(path)] = found - {name(path)}
    return graph


def test_no_module_imports_itself_back_through_others_so_the_channel_registry_is_a_leaf() -> None:
    graph = _module_graph()
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the cycle
    assert graph["pruneflow.channels.registry"] <= {"pruneflow.errors"}
    graph["pruneflow.channels.registry"].add("pruneflow.channels.handlers")  # the old cycle is caught
    with pytest.raises(graphlib.CycleError):
        graphlib.TopologicalSorter(graph).prepare()


def test_a_package_init_is_a_docstring_that_imports_nothing() -> None:
    for init in LIBRARY.rglob("__init__.py"):
        body = ast.parse(init.read_text()).body
        assert len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant), init


def test_each_package_docstring_names_every_module_it_holds() -> None:
    for init in [LIBRARY / "__init__.py", *LIBRARY.glob("*/__init__.py")]:
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        if init.parent == LIBRARY:
            modules = {p.stem for p in LIBRARY.glob("*.py")} - {"__init__"} | {p.parent.name for p in LIBRARY.glob("*/__init__.py")}
        else:
            modules = {p.stem for p in init.parent.glob("*.py")} - {"__init__"}
        missing = sorted(name for name in modules if f"`{name}`" not in doc)
        assert missing == [], f"{init.relative_to(REPO)} does not name {missing}"


@pytest.mark.parametrize("folder", ["pruneflow", "tasks", "flows", "tests", "benchmarks"])
def test_no_code_file_grows_past_three_hundred_lines(folder: str) -> None:
    long = {p.relative_to(REPO).as_posix(): n for p in (REPO / folder).rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_models_and_deploy_never_import_magnitude_or_channel_pruning() -> None:
    graph = _graph()
    assert not (graph["models"] | graph["deploy"]) & {"magnitude", "channels"}


def test_no_training_stage_reads_the_pipeline_the_report_or_the_tools() -> None:
    for name, sources in _sources(TRAINING_STAGES).items():
        assert not [p for p in sources if p.startswith(("pruneflow/pipeline/", "pruneflow/report/",
                                                         "pruneflow/tools/"))], name


def test_an_edit_to_magnitude_pruning_reruns_no_channel_stage() -> None:
    for name, sources in _sources(CHANNEL_STAGES).items():
        assert not [p for p in sources if p.startswith("pruneflow/magnitude/")], name


def test_an_edit_to_the_channel_pruner_reruns_no_magnitude_stage() -> None:
    for name, sources in _sources(MAGNITUDE_STAGES).items():
        assert not [p for p in sources if p.startswith("pruneflow/channels/")], name


def test_an_edit_to_the_fit_loop_reruns_no_bench_export_or_latency_table() -> None:
    for name, sources in _sources(DEPLOY_STAGES).items():
        assert not [p for p in sources if p in ("pruneflow/models/fit.py", "pruneflow/models/training.py")
                    or p.startswith("pruneflow/magnitude/")], name
    assert "pruneflow/models/fit.py" in _sources({"train_dense"})["train_dense"]  # the rule can fail


def test_an_edit_to_the_printed_tables_or_the_report_reruns_only_the_stages_that_print_or_write_it() -> None:
    every = _sources({stage.name for stage in STAGES})
    readers = lambda prefix: {name for name, sources in every.items() if any(p.startswith(prefix) for p in sources)}
    assert readers("pruneflow/report/") == {"report"}
    assert readers("pruneflow/evaluation/tables.py") <= {"evaluate", "report"}
    assert readers("pruneflow/pipeline/") == readers("pruneflow/tools/") == set()
