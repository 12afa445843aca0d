"""evaluation (docstring to be written)."""
