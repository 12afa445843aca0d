"""models (docstring to be written)."""
