"""Every handler module, imported once: after this the registry knows every supported layer type."""

from pruneflow.channels import convs, layers, ops  # noqa: F401
