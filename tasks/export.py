"""Stage export: the Keras file, its gzip and every `export.formats` TFLite file (and gzip) of the
dense and the pruned (stripped) model; see `pruneflow.tflite` for what each format is."""

from __future__ import annotations

from pruneflow.config import Config
from pruneflow.data import load_split
from pruneflow.io import atomic_dir
from pruneflow.model import load_model
from pruneflow.tflite import export_files, model_files, representative_data


def run(cfg: Config) -> None:
    """Edge: export both models into `paths.export`, replacing the directory as a whole."""
    images, _ = load_split(cfg.paths.prepared, "train")
    representative = representative_data(images, cfg.quantize.representative_samples)
    with atomic_dir(cfg.paths.export) as out:
        for name, path in model_files(cfg).items():
            export_files(name, path, load_model(path), out, cfg.export.formats, representative)
        sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir())}  # published when the stage ends
    print(f"export: {sizes}")

