"""Every handler module, imported once, and the lookup that needs them all: `handler_for`.

The registry (`registry`) is a leaf: the handler modules (`convs`, `layers`, `ops`) import it to
register their types, this module imports them, and the graph and the plan import this module, so
every import runs one way."""

from __future__ import annotations

from typing import Any

from pruneflow.channels import convs, layers, ops  # noqa: F401  (each registers its handlers on import)
from pruneflow.channels.registry import REGISTRY, Handler, unsupported


def handler_for(layer: Any) -> Handler:
    """The handler of `layer`'s exact class, specialised to the instance.

    Raises:
        PipelineError: no handler for the type, or a setting the handler cannot follow (one line).
    """
    handler = REGISTRY.get(type(layer))
    if handler is None:
        raise unsupported(layer)
    return handler.specialise(layer)
