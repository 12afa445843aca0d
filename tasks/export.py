"""Stage export: the Keras file, its gzip and every `export.formats` TFLite file (and gzip) of the
dense and the pruned (stripped) model; see `pruneflow.deploy.tflite` for what each format is."""

from __future__ import annotations

from pruneflow.artifacts.files import atomic_dir
from pruneflow.config.params import Config
from pruneflow.deploy.tflite import calibration_images, export_files, in_processes, model_files
from pruneflow.models.data import load_split


def run(cfg: Config) -> None:
    """Edge: export both models into `paths.export` (each in its own process), replacing the folder as a whole."""
    images, _ = load_split(cfg.paths.prepared, "train")
    calibration = calibration_images(images, cfg.quantize.representative_samples)
    with atomic_dir(cfg.paths.export) as out:
        in_processes(export_files, [(name, path, out, cfg.export.formats, calibration)
                                    for name, path in model_files(cfg).items()])
        sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir())}  # published when the stage ends
    print(f"export: {sizes}")
