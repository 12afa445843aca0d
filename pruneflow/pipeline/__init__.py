"""pipeline (docstring to be written)."""
