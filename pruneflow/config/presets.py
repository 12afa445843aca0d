"""Named params presets: `presets/<name>.yaml` holds only the keys a recipe changes; `python -m pruneflow
preset <name>` writes them into params.yaml, keeping its comments, after checking the result validates.
Only values that differ are written and counted; with `model.file` set (an adopted model), the input side
stays the file's.

So a preset is reviewed as a params.yaml diff, like any other change, and DVC sees ordinary params.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pruneflow.config.params import parse_config
from pruneflow.errors import PipelineError

PRESETS = Path(__file__).resolve().parents[2] / "presets"
_KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][A-Za-z0-9_]*):(?P<gap> *)(?P<value>[^#]*?)(?P<comment> +#.*)?$")


def preset_names() -> list[str]:
    """Every preset shipped in presets/."""
    return sorted(path.stem for path in PRESETS.glob("*.yaml"))


def preset_overrides(name: str) -> dict[str, Any]:
    """The keys preset `name` sets (nested sections).

    Raises:
        PipelineError: no such preset (the message lists the shipped ones).
    """
    path = PRESETS / f"{name}.yaml"
    if not path.is_file():
        raise PipelineError(f"preset {name!r}: not found; allowed: {', '.join(preset_names())}")
    return yaml.safe_load(path.read_text()) or {}


def apply_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Merge `overrides` into `base` in place, section by section; returns `base`."""
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            apply_overrides(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _flat(tree: dict[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    flat: dict[tuple[str, ...], Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flat(value, (*prefix, key)))
        else:
            flat[(*prefix, key)] = value
    return flat


def _scalar(value: Any) -> str:
    """A value as one line of YAML flow style."""
    text = json.dumps(value)
    if isinstance(value, str) and yaml.safe_load(value) == value:
        return value
    return text


def edit_params_text(text: str, overrides: dict[str, Any]) -> str:
    """`text` (a params.yaml) with every overridden value replaced on its own line, comments kept;
    keys the file lacks are added at the end of their section (sections at the end of the file)."""
    pending = _flat(overrides)
    lines, stack, section_end = text.splitlines(), [], {}
    out: list[str] = []
    for line in lines:
        match = _KEY_LINE.match(line)
        if match:
            indent = len(match["indent"])
            while stack and stack[-1][0] >= indent:
                stack.pop()
            path = (*(key for _, key in stack), match["key"])
            if not match["value"]:
                stack.append((indent, match["key"]))
            elif path in pending:
                line = f"{match['indent']}{match['key']}:{match['gap'] or ' '}{_scalar(pending.pop(path))}{match['comment'] or ''}"
            for depth in range(1, len(path)):
                section_end[path[:depth]] = len(out) + 1
        out.append(line)
    for path, value in sorted(pending.items(), key=lambda item: -section_end.get(item[0][:-1], len(out))):
        where = section_end.get(path[:-1])
        if where is None:
            out.extend(f"{'  ' * depth}{key}:" for depth, key in enumerate(path[:-1]))
            out.append(f"{'  ' * (len(path) - 1)}{path[-1]}: {_scalar(value)}")
        else:
            out.insert(where, f"{'  ' * (len(path) - 1)}{path[-1]}: {_scalar(value)}")
    return "\n".join(out) + "\n"


# Keys an adopted model (`model.file`) fixes: its input side is the file's, so a preset leaves it alone.
FIXED_BY_MODEL_FILE = ("data.image_size",)


@dataclass(frozen=True)
class PresetEdit:
    """What `apply_preset` did: each key whose value changed (dotted key → (before, after)), and each
    key the preset sets that was left as it is on purpose (dotted key → why). True when it wrote anything."""

    changed: dict[str, tuple[Any, Any]]
    kept: dict[str, str]

    def __bool__(self) -> bool:
        return bool(self.changed)

    def summary(self, name: str, params: Path) -> str:
        """One line for the console: what changed, old → new, and what was kept and why."""
        if self.changed:
            line = (f"preset {name}: {len(self.changed)} key(s) changed in {params}: "
                    + ", ".join(f"{key} {_scalar(old)} → {_scalar(new)}" for key, (old, new) in self.changed.items()))
        else:
            line = f"preset {name}: {params} already has every value; nothing written"
        return line + "".join(f"; {key} {why}" for key, why in self.kept.items())


def _same(a: Any, b: Any) -> bool:
    """Equal as params values (1 and 1.0 alike, True and 1 not)."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _nest(flat: dict[tuple[str, ...], Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path, value in flat.items():
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return tree


def apply_preset(name: str, params: Path) -> PresetEdit:
    """Write into `params` the values of preset `name` that differ from it, except the keys an adopted
    model fixes (`FIXED_BY_MODEL_FILE`, when params sets `model.file`).

    Returns:
        The keys changed (before, after) and the keys kept, with why; `params` is not rewritten when
        nothing changed.
    Raises:
        PipelineError: an unknown preset, or a result that does not validate (params left as it was).
    """
    overrides = preset_overrides(name)
    weights = overrides.get("model", {}).get("weights")
    if weights not in (None, "imagenet") and not Path(weights).is_file():
        raise PipelineError(f"preset {name}: model.weights={weights} does not exist yet; write it with `make backbone` "
                            f"(MobileNet V1 trained on the embedded digits, ~5 min), then run the preset again")
    try:
        text = params.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PipelineError(f"{params}: cannot read params file ({type(exc).__name__}); give --params a params.yaml") from None
    current = yaml.safe_load(text) or {}
    now, wanted = _flat(current), _flat(overrides)
    kept = {}
    if now.get(("model", "file")) is not None:
        for key in FIXED_BY_MODEL_FILE:
            path = tuple(key.split("."))
            if path in wanted and not _same(wanted[path], now.get(path)):
                kept[key] = f"kept at {_scalar(now.get(path))}: set by model.file"
    changes = {path: value for path, value in wanted.items()
               if ".".join(path) not in kept and (path not in now or not _same(now[path], value))}
    if changes:
        merged = apply_overrides(current, _nest(changes))
        edited = edit_params_text(text, _nest(changes))
        if yaml.safe_load(edited) != merged:  # the line editor must give exactly the merged params
            raise PipelineError(f"{params}: could not edit in place for preset {name!r}; apply presets/{name}.yaml by hand")
        parse_config(merged, f"{params} with preset {name}")
        params.write_text(edited, encoding="utf-8")
    return PresetEdit({".".join(path): (now.get(path), value) for path, value in changes.items()}, kept)
