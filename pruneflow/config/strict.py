"""Strict numbers and switches, the field types every params section uses."""

from __future__ import annotations

from typing import Annotated

from pydantic import Strict

# Numbers and switches are strict: YAML already types them, so a quoted "3", `yes` or `true` where a
# number belongs is a typo to report, not a value to coerce (pydantic's lax mode would take "3" and
# True as 3 and 1). An int is still accepted where a float is expected.
Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]
Bool = Annotated[bool, Strict()]
