"""A stage's code deps: its edge `tasks/<name>.py` and every `pruneflow` module it imports,
transitively, read from the source with `ast` (nothing is imported). dvc.yaml lists them as the
stage's deps and the flow hashes them into its cache key, so an edit reruns exactly the stages whose
code imports it, and every import that runs the wrong way between packages costs reruns."""

from __future__ import annotations

import ast
import functools
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def code_deps(edge: Path) -> tuple[Path, ...]:
    """`edge` and every library module it imports, transitively (edge first, the rest sorted)."""
    seen, todo = {edge}, [edge]
    while todo:
        for module in _library_imports(todo.pop()):
            if module not in seen:
                seen.add(module)
                todo.append(module)
    return (edge, *sorted(seen - {edge}))


def _module_file(name: str) -> Path | None:
    base = REPO / name.replace(".", "/")
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py") if base.with_suffix(".py").is_file() else None


# CPython 3.11's ast.parse is not thread-safe: two threads parsing at once raise "AST constructor
# recursion depth mismatch" (cpython gh-106905), and the flow computes cache keys in its own thread
# and in the task runner's. Parse under a lock, and only once per file content.
_PARSE_LOCK = threading.Lock()


@functools.lru_cache(maxsize=256)
def _parsed(text: str) -> ast.Module:
    with _PARSE_LOCK:
        return ast.parse(text)


def _library_imports(path: Path) -> set[Path]:
    """Files of the `pruneflow` package that `path` imports (`from pruneflow.x.y import …`,
    `from pruneflow.x import y`, `import pruneflow.x.y`). A package's `__init__` is left out: it is a
    docstring that imports nothing (tests/test_layout.py holds every package to that), so editing a
    package's map reruns no stage."""
    found = set()
    for node in ast.walk(_parsed(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "pruneflow":
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names if alias.name.split(".")[0] == "pruneflow"]
        for name in names:
            parts = name.split(".")
            for depth in range(2, len(parts) + 1):  # a package's __init__ runs on the way to its module
                module = _module_file(".".join(parts[:depth]))
                if module and module.name != "__init__.py":
                    found.add(module)
    return found
