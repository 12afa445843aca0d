"""Prefect flows: they wire the stages of `tasks/` and decide caching; no math, no hyperparameters."""
