"""Prefect flows: they wire the stage table's stages (`pruneflow.stages`) and decide caching; no math, no hyperparameters."""
