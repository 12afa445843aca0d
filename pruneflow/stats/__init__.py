"""stats (docstring to be written)."""
