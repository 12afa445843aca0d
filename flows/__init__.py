"""Prefect flows: they wire the stage table's stages (`pruneflow.pipeline.stages`) and decide caching; no math, no hyperparameters."""
