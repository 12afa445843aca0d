"""Stage evaluate: accuracy, sparsity, sizes and the benchmarked latency of the dense and the pruned
model and of every TFLite variant → metrics.json (what repeats exactly), timings.json (the wall-clock
fields) and the per-layer / per-class tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pruneflow.artifacts.files import atomic_path, gzip_size, read_json, write_json
from pruneflow.artifacts.lineage import metrics_digest, timing_files
from pruneflow.artifacts.results import read_stage_timing, reproducibility_note, split_timings, stage_timing_file
from pruneflow.config.params import Config
from pruneflow.deploy.machine import describe
from pruneflow.deploy.tflite import deployables, exported, model_files
from pruneflow.deploy.tflite_runner import TFLiteRunner
from pruneflow.errors import require
from pruneflow.evaluation.metrics import compare
from pruneflow.evaluation.tables import format_run
from pruneflow.evaluation.variants import (
    SIZE_KEYS,
    channel_metrics,
    data_summary,
    epoch_times,
    evaluate_keras,
    layer_sparsity_table,
    per_class_table,
    read_bench,
    sparsity_summary,
    variant_metrics,
    weight_histogram,
)
from pruneflow.magnitude.coverage import pruned_coverage
from pruneflow.models.data import load_classes, load_split, majority_baseline, read_summary
from pruneflow.models.fit import seed_everything
from pruneflow.models.sparsity import prunable_weights
from pruneflow.models.store import load_model
from pruneflow.stats.differences import point_columns, significance
from pruneflow.stats.seeds import spread


def run(cfg: Config) -> None:
    """Edge: measure both exported models, write metrics.json and the per-layer / per-class tables."""
    p = cfg.paths
    # Op determinism, as every training stage has it (and the Prefect flow's one process): the same
    # model then gives the same probabilities to the last bit, whatever else loads the CPU.
    seed_everything(cfg.seed)
    x, y = load_split(p.prepared, "test")
    x = x.astype(np.float32)
    classes = load_classes(p.prepared)
    train_labels, val_labels = load_split(p.prepared, "train")[1], load_split(p.prepared, "val")[1]
    majority, chance_test_pct = majority_baseline(train_labels, y)
    chance = {"class": classes[majority], "val_accuracy_pct": majority_baseline(train_labels, val_labels)[1],
              "test_accuracy_pct": chance_test_pct}
    results: dict[str, dict[str, Any]] = {}
    layer_tables, class_tables = [], []
    predictions, kernels = {"actual": [classes[i] for i in y]}, {}
    bench = read_bench(p.bench, set(deployables(cfg)), f"threads_{cfg.bench.threads[0]}")
    first_threads = f"threads_{cfg.bench.threads[0]}"
    for name, model_path in model_files(cfg).items():
        model = load_model(model_path)
        loss, acc, pred = evaluate_keras(model, x, y)
        layers = layer_sparsity_table(model).assign(model=name)
        per_class = per_class_table(y, pred, classes).assign(model=name)
        layer_tables.append(layers)
        class_tables.append(per_class)
        predictions[name] = [classes[i] for i in pred]
        kernels[name] = [values for _, _, values in prunable_weights(model)]
        runner = TFLiteRunner(require(exported(p.export, name, "tflite"), "export"), max(cfg.bench.threads), cfg.bench.batch)
        tflite_pred = runner.predict(x).argmax(1)
        float_bench = bench["variants"][f"{name}.float"][first_threads]
        results[name] = {
            "test_loss": loss,
            "test_accuracy_pct": acc,
            "tflite_test_accuracy_pct": 100.0 * float(np.mean(tflite_pred == y)),
            "majority_class_test_accuracy_pct": chance_test_pct,  # the chance level next to every accuracy
            "macro_precision_pct": float(per_class["precision_pct"].mean()),
            "macro_recall_pct": float(per_class["recall_pct"].mean()),
            "per_class": {
                row["class"]: {"precision_pct": row["precision_pct"], "recall_pct": row["recall_pct"]}
                for row in per_class.to_dict("records")
            },
            **sparsity_summary(model, layers),
            **{key: exported(p.export, name, kind).stat().st_size for kind, key in SIZE_KEYS.items()},
            # float TFLite at batch 1 on the first bench thread count (the bench stage's numbers)
            "latency_p50_ms": float_bench["batch1_p50_ms"],
            "latency_p95_ms": float_bench["batch1_p95_ms"],
        }
        if name == "pruned":  # how many layers the masks reach, and their kernels' share of all params
            coverage = pruned_coverage(model)
            results[name].update({key: coverage[key] for key in ("layers_pruned_count", "prunable_share_pct")})
    # The unstripped (wrapped) model: why stripping matters. Masks and thresholds make it bigger.
    results["pruned"]["size_keras_unstripped_bytes"] = require(p.pruned_model, "prune").stat().st_size
    results["pruned"]["size_keras_unstripped_gzip_bytes"] = gzip_size(p.pruned_model)
    files = {name: require(path, "pqat" if "pqat" in name else "export") for name, path in deployables(cfg).items()}
    variants, variant_predictions = variant_metrics(files, x, y, bench, results["dense"]["size_keras_gzip_bytes"],
                                                    max(cfg.bench.threads), cfg.bench.batch)
    # One column per model and TFLite file (trained points wrote theirs): every difference is paired.
    predictions.update({name: [classes[i] for i in pred] for name, pred in variant_predictions.items()})
    predictions.update(point_columns(cfg, classes, len(y)))
    table = pd.DataFrame(predictions)
    training = epoch_times(*(read_stage_timing(stage_timing_file(p.stage_timings, stage)).get("epoch_seconds", [])
                             for stage in ("train_dense", "prune")))
    metrics = {
        **results,
        # epoch seconds from the training stages' timing files (their CSVs hold only what repeats)
        **({"training": training} if training else {}),
        "comparison": compare(results["dense"], results["pruned"]),
        "variants": variants,
        "setup": {
            "test_samples": int(len(y)),
            "latency_runs": cfg.bench.runs,
            "latency_warmup_runs": cfg.bench.warmup,
            "latency_threads": cfg.bench.threads[0],
            "bench": json.loads(require(p.bench_setup, "bench").read_text())["setup"],
        },
        # dense / unstructured / channel / stacked / uniform-width: accuracy, MACs, params, sizes, latency
        "channels": channel_metrics(p.channel_bench, p.channel_latency),
        # each accuracy difference with its paired 95 % CI and exact McNemar p (pruneflow.stats.differences)
        "significance": significance(table, cfg.sweep.accuracy_budget_pts),
        # with `seeds` > 1: each headline model's accuracy over the seeds (mean, sd, range; pruneflow.stats.seeds)
        **({"seeds": spread(cfg)} if cfg.seeds > 1 else {}),
        "data": data_summary(read_summary(p.prepared), chance, metrics_digest(cfg)),
        "reproducibility": reproducibility_note(p.timings, timing_files(cfg)),
        # where every latency of this run was measured (a timing field: it goes to timings.json)
        "machine": describe(read_json(require(p.machine, "machine"))),
    }
    _write_csv(pd.concat(layer_tables), p.sparsity_table)
    _write_csv(pd.concat(class_tables), p.per_class_table)
    _write_csv(table, p.predictions)
    _write_csv(weight_histogram(kernels), p.weight_histogram, float_format="%.6g")
    # Two DVC metrics files: what repeats exactly, and the wall-clock fields of this run.
    fixed, timed = split_timings(metrics)
    write_json(p.metrics, fixed)
    write_json(p.timings, timed)
    print(format_run(metrics))


def _write_csv(frame: pd.DataFrame, path: Path, float_format: str = "%.4f") -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format=float_format)

