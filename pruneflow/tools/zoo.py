"""The keras.applications coverage table: `python -m pruneflow.tools.zoo` (`make zoo`).

For each family of `pruneflow.models.zoo` (random weights: the table is about what the code can do, not about
accuracy), in one process:

- magnitude: tfmot wrap → a few steps of fit on random pixels → strip → `.keras` round trip
  (`pruneflow.magnitude.coverage.prune_briefly`), and the share of all parameters the masks reach;
- channels, on the model built at `--latency-size` (the one converted and timed; `--size` without
  latency): `prune_channels(keep 0.5, scope all, l2, multiple 8)` or the one line that stops it; params
  and MACs before → after; the largest |masked − rebuilt| logit difference on random pixels, absolute
  and relative to the largest logit;
- TFLite float: each model converted once;
- latency: dense and rebuilt float TFLite at batch 1, 1 thread, interleaved rounds (`pruneflow.deploy.benchmark`):
  both p50s and the ratio of medians with the quartiles of the per-round ratios.

Writes `--out` (markdown: how it was made, the machine, the load, the table) and the same rows as
JSON and CSV beside it.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pruneflow.artifacts.files import write_bytes, write_csv, write_json
from pruneflow.channels.rebuild import masked_model, prune_channels
from pruneflow.deploy.benchmark import interleaved_ms, speedup
from pruneflow.deploy.machine import cpu_count, cpu_model
from pruneflow.deploy.tflite import to_tflite
from pruneflow.deploy.tflite_runner import TFLiteRunner
from pruneflow.errors import PipelineError, command
from pruneflow.magnitude.coverage import brief_prune_ok, prune_briefly
from pruneflow.models.macs import count_macs, count_params
from pruneflow.models.zoo import FAMILIES, build_family, min_size
from pruneflow.tf_env import keras, tfmot

KEEP, SCOPE, CRITERION, MULTIPLE = 0.5, "all", "l2", 8
MAGNITUDE_SPARSITY = 0.5
DOC = Path("docs/zoo.md")


def reason(exc: BaseException) -> str:
    """One line for a table cell: the exception's type and first line, pipes escaped."""
    first = (str(exc).strip().splitlines() or [""])[0][:160]
    return f"{type(exc).__name__}: {first}".replace("|", "/")


def images(size: int, count: int, seed: int) -> np.ndarray:
    """Random raw pixels (0–255): the zoo's weights are random too."""
    return np.random.default_rng(seed).uniform(0.0, 255.0, (count, size, size, 3)).astype(np.float32)


def fresh(name: str, size: int, seed: int) -> keras.Model:
    """The family's classifier with the same random weights at any input side."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    return build_family(name, size)


def magnitude_check(name: str, size: int, seed: int) -> dict[str, Any]:
    """`prune_briefly` on the family: ok or the reason, and the share of params the masks reach."""
    x = images(size, 8, seed)
    y = np.random.default_rng(seed).integers(0, 10, len(x))
    try:
        _, _, check = prune_briefly(fresh(name, size, seed), x, y, MAGNITUDE_SPARSITY, steps=2, batch_size=4)
    except Exception as exc:  # any architecture may fail anywhere: the table records where
        return {"magnitude": "fails", "magnitude_reason": reason(exc)}
    coverage = check.pop("coverage")
    ok = brief_prune_ok(check, MAGNITUDE_SPARSITY)
    return {"magnitude": "ok" if ok else "fails",
            "magnitude_reason": "" if ok else f"invariant broken: {check}",
            "magnitude_layers": coverage["layers_pruned_count"],
            "magnitude_share_pct": round(coverage["prunable_share_pct"], 1)}


def tfmot_whole_model(name: str, size: int, seed: int) -> str:
    """What tfmot's own whole-model `prune_low_magnitude` says: ok, or its first line."""
    try:
        tfmot.sparsity.keras.prune_low_magnitude(fresh(name, size, seed))
    except Exception as exc:
        return f"refuses: {reason(exc)}"
    return "ok"


def logits(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """The head's pre-softmax outputs: random weights on raw pixels saturate the softmax, and a
    difference of saturated probabilities is 0 whatever the rebuild did."""
    head = model.get_layer("head_logits")
    features = keras.Model(model.inputs, head.input)(x, training=False).numpy().astype(np.float64)
    kernel, bias = head.get_weights()
    return features @ kernel + bias


def channel_check(name: str, size: int, seed: int) -> tuple[dict[str, Any], dict[str, keras.Model]]:
    """The channel rebuild at `size`: ok or the reason, params and MACs before → after, the largest
    masked vs rebuilt logit difference; and the models (dense, and rebuilt when it worked)."""
    dense = fresh(name, size, seed)
    row: dict[str, Any] = {"params_before": count_params(dense), "macs_before": count_macs(dense), "macs_size": size}
    try:
        rebuilt, plan = prune_channels(dense, KEEP, SCOPE, CRITERION, MULTIPLE)
        x = images(size, 2, seed + 1)
        masked = logits(masked_model(dense, plan), x)
        diff = float(np.max(np.abs(masked - logits(rebuilt, x))))
    except Exception as exc:  # the pruner's PipelineError names the layer; anything else is a bug to show
        return {**row, "channels": "fails", "channels_reason": reason(exc)}, {"dense": dense}
    row.update(channels="ok", channels_reason="", params_after=count_params(rebuilt), macs_after=count_macs(rebuilt),
               max_abs_diff=diff, max_rel_diff=diff / max(float(np.max(np.abs(masked))), 1e-30))
    return row, {"dense": dense, "rebuilt": rebuilt}


def tflite_files(models: dict[str, keras.Model], name: str, folder: Path) -> tuple[dict[str, Any], dict[str, Path]]:
    """Each model converted to float TFLite once: ok, or the first failure's reason."""
    files: dict[str, Path] = {}
    for label, model in models.items():
        try:
            files[label] = folder / f"{name}.{label}.tflite"
            write_bytes(files[label], to_tflite(model, "float"))
        except Exception as exc:
            return {"tflite": "fails", "tflite_reason": f"{label}: {reason(exc)}"}, {}
    return {"tflite": "ok", "tflite_reason": ""}, files


def latency(files: dict[str, Path], size: int, warmup: int, runs: int, seed: int) -> dict[str, Any]:
    """Batch-1, 1-thread p50 of the dense and rebuilt files, interleaved; the dense/rebuilt ratio."""
    runners = {label: TFLiteRunner(path, threads=1, batch=1) for label, path in files.items()}
    x = images(size, 1, seed)
    prepared = {label: runner.prepare(x) for label, runner in runners.items()}
    ms = interleaved_ms({label: (lambda r=r, p=prepared[label]: r.invoke(p)) for label, r in runners.items()},
                        warmup, runs, seed, label="zoo latency")
    ratio = speedup(ms["dense"], ms["rebuilt"])
    return {"p50_dense_ms": float(np.median(ms["dense"])), "p50_rebuilt_ms": float(np.median(ms["rebuilt"])),
            "speedup_x": ratio["x"], "speedup_q25_x": ratio["paired_q25_x"], "speedup_q75_x": ratio["paired_q75_x"]}


def family_row(name: str, size: int, latency_size: int | None, warmup: int, runs: int, seed: int = 0) -> dict[str, Any]:
    """Every column of one family's row (a failing step leaves its reason and the later columns empty).
    The channel rebuild is checked on the model that is converted and timed: at the latency side."""
    started = time.perf_counter()
    size = max(size, min_size(name))
    side = max(latency_size, min_size(name)) if latency_size else size
    row: dict[str, Any] = {"family": name, "size": size, "tfmot_whole_model": tfmot_whole_model(name, size, seed)}
    row.update(magnitude_check(name, size, seed))
    row["magnitude_s"] = round(time.perf_counter() - started, 1)
    checked, models = channel_check(name, side, seed)
    row.update(checked, channels_s=round(time.perf_counter() - started - row["magnitude_s"], 1))
    with tempfile.TemporaryDirectory() as folder:
        converting = time.perf_counter()
        converted, files = tflite_files(models, name, Path(folder))
        row.update(converted, tflite_s=round(time.perf_counter() - converting, 1))
        if latency_size and len(files) == 2:
            row["latency_size"] = side
            row.update(latency(files, side, warmup, runs, seed))
    row["seconds"] = round(time.perf_counter() - started, 1)
    keras.backend.clear_session()
    return row


def _millions(value: float | None) -> str:
    return "" if value is None or pd.isna(value) else f"{value / 1e6:.2f}"


def _arrow(row: dict[str, Any], key: str) -> str:
    before, after = row.get(f"{key}_before"), row.get(f"{key}_after")
    if after is None or pd.isna(after):
        return _millions(before)
    return f"{_millions(before)} → {_millions(after)} ({after / before:.2f}x)"


def table_markdown(rows: list[dict[str, Any]]) -> str:
    """The coverage table: one row per family, failures with their one-line reason."""
    lines = []
    for row in rows:
        magnitude = (f"ok: {row['magnitude_layers']} layers, {row['magnitude_share_pct']:.1f} % of params"
                     if row["magnitude"] == "ok" else f"fails: {row['magnitude_reason']}")
        channels = "ok" if row["channels"] == "ok" else f"fails: {row['channels_reason']}"
        diff = (f"{row['max_abs_diff']:.1e} ({row['max_rel_diff']:.1e})" if row["channels"] == "ok" else "")
        tflite = "ok" if row.get("tflite") == "ok" else f"fails: {row.get('tflite_reason', '')}"
        timing = (f"{row['p50_dense_ms']:.2f} / {row['p50_rebuilt_ms']:.2f}", f"{row['speedup_x']:.2f}x "
                  f"[{row['speedup_q25_x']:.2f}, {row['speedup_q75_x']:.2f}]") if "speedup_x" in row else ("", "")
        lines.append({"family": row["family"], "px": row["size"],
                      "tfmot whole-model call": row["tfmot_whole_model"].split(":")[0],
                      "magnitude prune (wrap → strip)": magnitude,
                      "channel rebuild (keep 0.5)": channels, "params M before → after": _arrow(row, "params"),
                      "MACs M before → after": _arrow(row, "macs") + f" @{row['macs_size']}",
                      "max abs Δ logits masked vs rebuilt (rel.)": diff, "TFLite float": tflite,
                      "p50 ms dense / rebuilt": timing[0], "dense / rebuilt x [q25, q75]": timing[1]})
    return pd.DataFrame(lines).to_markdown(index=False)


def machine() -> dict[str, Any]:
    """The CPU, its count and the load: latency ratios on a shared machine are noisy."""
    return {"processor": cpu_model(), "cpus": cpu_count(), "machine": platform.machine(),
            "load_average": [round(v, 2) for v in os.getloadavg()]}


def document(record: dict[str, Any]) -> str:
    """The markdown page of a run's record (the JSON file): how the table was made, on what, under
    what load; the table; how to read it."""
    rows, before, after = record["rows"], record["machine"], record["machine_after"]
    ok = lambda key: sum(row.get(key) == "ok" for row in rows)
    command_line = " ".join(["python -m pruneflow.tools.zoo", *record["argv"]])
    return "\n".join([
        "# The keras.applications zoo: what pruneflow can prune",
        "",
        f"Produced by `{command_line}` (`make zoo`) in {record['seconds'] / 60:.1f} min, one process, on "
        f"{before['processor']} ({before['cpus']} CPUs, {before['machine']}). Weights are random "
        "(`weights=None`): this machine has no network, and the table is about what the code can prune, "
        "convert and speed up, not about accuracy. Inputs are random 0–255 pixels.",
        "",
        f"Load average (1, 5, 15 min) at the start {before['load_average']}, at the end "
        f"{after['load_average']}: the machine was shared with other jobs, so the latency ratios carry their "
        f"noise. Dense and rebuilt run interleaved ({record['warmup']} warm-up rounds dropped, then "
        f"{record['runs']} rounds, each running both in a shuffled order), which cancels slow drifts but not "
        "bursts; read a ratio together with its per-round quartiles.",
        "",
        f"Magnitude pruning works on {ok('magnitude')} of {len(rows)} families, the channel rebuild on "
        f"{ok('channels')}, float TFLite conversion on {ok('tflite')}.",
        "",
        table_markdown(rows),
        "",
        "How to read it:",
        "",
        "- *tfmot whole-model call*: `tfmot.sparsity.keras.prune_low_magnitude(model)` as tfmot ships it.",
        "- *magnitude prune*: pruneflow's `wrap_for_pruning`: tfmot wrappers on every layer its registry "
        f"knows (nested models included), the rest left as it is; {MAGNITUDE_SPARSITY:.0%} constant sparsity "
        "reached in 2 fit steps, strip, both models saved and loaded; `% of params` is the share of *all* "
        "parameters the masks reach (`pruneflow.magnitude.coverage.pruned_coverage`).",
        f"- *channel rebuild*: `prune_channels(model, {KEEP}, \"{SCOPE}\", \"{CRITERION}\", {MULTIPLE})`, "
        "checked on the model built at the latency side (the one converted and timed). The Δ column compares "
        "its logits with `masked_model`'s (the same function by construction) on two random images, absolute "
        "and relative to the largest logit.",
        "- *MACs* at the side after `@`; params do not depend on it.",
        "- *latency*: float TFLite, batch 1, 1 thread, XNNPACK; dense/rebuilt > 1: the rebuilt model is faster.",
        "",
    ])


def run(families: list[str], size: int, latency_size: int | None, warmup: int, runs: int, out: Path,
        argv: list[str]) -> str:
    """Measure every family, write `out` (markdown) and its JSON and CSV twins; return a summary line."""
    unknown = [name for name in families if name not in FAMILIES]
    if unknown:
        raise PipelineError(f"--families: unknown {', '.join(unknown)}; allowed: {', '.join(FAMILIES)}")
    before, started = machine(), time.perf_counter()
    rows = []
    for name in families:
        rows.append(family_row(name, size, latency_size, warmup, runs))
        print(f"zoo: {name}: magnitude {rows[-1]['magnitude']}, channels {rows[-1]['channels']}, "
              f"tflite {rows[-1].get('tflite')}, {rows[-1]['seconds']} s", flush=True)
    record = {"argv": argv, "machine": before, "machine_after": machine(), "warmup": warmup, "runs": runs,
              "seconds": round(time.perf_counter() - started, 1), "rows": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(out, document(record).encode())
    write_json(out.with_suffix(".json"), record)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    write_csv(out.with_suffix(".csv"), [{key: row.get(key, "") for key in columns} for row in rows])
    return f"zoo: {len(rows)} families in {record['seconds']:.0f} s → {out} (+ .json, .csv)"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated subset (default: all 18)")
    parser.add_argument("--size", type=int, default=32,
                        help="input side of the magnitude check (raised to a family's minimum)")
    parser.add_argument("--latency-size", type=int, default=224,
                        help="input side of the channel rebuild, conversion and latency; 0: no latency (then --size)")
    parser.add_argument("--warmup", type=int, default=5, help="latency warm-up rounds")
    parser.add_argument("--runs", type=int, default=30, help="latency timed rounds")
    parser.add_argument("--out", type=Path, default=DOC,
                        help=f"markdown file (default {DOC}); .json and .csv beside it")
    args = parser.parse_args(argv)
    families = [name.strip() for name in args.families.split(",") if name.strip()]
    return command(lambda: run(families, args.size, args.latency_size or None, args.warmup, args.runs,
                               args.out, argv))


if __name__ == "__main__":
    sys.exit(main())
