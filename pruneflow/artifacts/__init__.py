"""artifacts (docstring to be written)."""
