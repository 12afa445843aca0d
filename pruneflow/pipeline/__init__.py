"""The pipeline as a whole: the stage table and what runs it.

- `stage`: one `Stage` (what it reads, its params, what it writes, how its edge runs) and one `Out`;
- `stages`: the one table of stages, the source of dvc.yaml and of the flow's waves;
- `code_deps`: a stage's code deps, its edge's transitive library imports (dvc.yaml's deps, the flow's cache key);
- `console`: what a user sees on the console while a stage runs;
- `dvc_cache`: hand the flow's outputs to DVC when they are exactly the files dvc.lock names;
- `freshness`: whether the numbers on screen are stale (`dvc status`) and what they were made from.

No stage's own code imports it: it is on top, beside `tools`, `flows/` and `__main__`.
"""
