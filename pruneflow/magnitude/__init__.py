"""magnitude (docstring to be written)."""
