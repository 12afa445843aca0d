"""deploy (docstring to be written)."""
