"""Stage latency_table: every costed layer of the dense model timed alone in TFLite at a grid of its
channel widths, on this machine, for every setting a budget or the prediction check needs →
`paths.latency_table` (table.json, and groups.csv: per channel group and width, the time of the layers
that width sets). It depends on `paths.machine`: measured once per machine (`pruneflow.latency`)."""

from __future__ import annotations

import pandas as pd

from pruneflow.artifacts.files import atomic_dir, read_json
from pruneflow.config.params import Config
from pruneflow.latency.measure import measure
from pruneflow.latency.table import GROUPS_FILE, TABLE_FILE, group_rows, levels_for


def run(cfg: Config) -> None:
    """Edge: measure the table, write it and its per-group view."""
    import json

    tables, info = measure(cfg)
    rows = []
    for table in tables:
        sizes = {key: size for layer in table.layers for key, size in (*layer.ins, *layer.outs) if key is not None}
        rows += group_rows(table, {key: levels_for(size, cfg.channels.multiple) for key, size in sizes.items()})
    with atomic_dir(cfg.paths.latency_table) as tmp:
        payload = {"machine": read_json(cfg.paths.machine), "measured": info,
                   "settings": [table.to_json() for table in tables]}
        (tmp / TABLE_FILE).write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
        pd.DataFrame(rows).to_csv(tmp / GROUPS_FILE, index=False)
    for table in tables:
        print(f"latency_table {table.setting.key}: dense {table.dense_ms:.4f} ms, {len(table.layers)} costed layers"
              + (f"; also for {', '.join(table.asked)}: {table.note}" if table.asked else ""))
