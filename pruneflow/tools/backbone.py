"""A backbone weights file from a model this project trained, for `model.weights` (transfer learning
offline; docs/own-data.md, "Transfer learning"):

    python -m pruneflow.tools.backbone models/dense.keras backbones/mnist5k_mobilenet_v2.weights.h5
    python -m pruneflow.tools.backbone --train mobilenet backbones/mnist5k_mobilenet.weights.h5   # `make backbone`

The first form takes the MobileNet base (input scaling through global pooling) of a trained pruneflow
classifier. The second first trains that classifier: the dense recipe of params.yaml on the embedded
MNIST digits with the given architecture at width 1.0 (about 5 minutes on 2 cores), in a scratch folder.
The file is what `keras.applications` loads for `weights=<path>`: HDF5, the base's layers in order, so
the input size may differ (224 px for the seed's recipe); the architecture and width must match.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path

import yaml

from pruneflow.config.params import parse_config
from pruneflow.errors import PipelineError, command
from pruneflow.models.store import load_model
from pruneflow.tf_env import keras

HEAD_INPUT = "head_dense"  # the head's first layer: its input is the base's pooled output


def base_of(model: keras.Model) -> keras.Model:
    """The MobileNet base of a pruneflow classifier: its input up to the pooled features (layers shared)."""
    try:
        pooled = model.get_layer(HEAD_INPUT).input
    except ValueError:
        raise PipelineError(f"model {model.name}: no '{HEAD_INPUT}' layer; allowed: a classifier written by "
                            "pruneflow's train_dense (models/dense.keras)") from None
    return keras.Model(model.input, pooled, name="backbone")


def write_backbone(model_path: Path, out: Path) -> int:
    """Save the base weights of the classifier at `model_path` to `out` (`.h5`); return their count.

    Raises:
        PipelineError: `out` is not an .h5 path, or the model is not a pruneflow classifier.
    """
    if not out.name.endswith(".h5"):
        raise PipelineError(f"{out}: backbone files are HDF5; allowed: a name ending in .h5, e.g. {out.stem}.weights.h5")
    base = base_of(load_model(model_path))
    out.parent.mkdir(parents=True, exist_ok=True)
    base.save_weights(str(out))
    return base.count_params()


def train_backbone(architecture: str, params: Path, out: Path) -> int:
    """Train the dense classifier on mnist5k (params.yaml's recipe, `architecture`, width 1.0) in a
    scratch folder and write its base to `out`; return the weight count."""
    from tasks import ingest, train_dense

    raw = yaml.safe_load(params.read_text()) or {}
    raw.pop("paths", None)
    raw.setdefault("data", {}).update(source="mnist5k")
    raw.setdefault("model", {}).update(architecture=architecture, alpha=1.0, weights=None, freeze_base=False,
                                       form="keras")
    out = out.resolve()
    with tempfile.TemporaryDirectory() as work, contextlib.chdir(work):
        cfg = parse_config(raw, f"{params} (backbone)")
        ingest.run(cfg)
        train_dense.run(cfg)
        return write_backbone(cfg.paths.dense_model.resolve(), out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pruneflow.tools.backbone", description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", type=Path, help="a trained classifier (.keras), e.g. models/dense.keras")
    parser.add_argument("out", type=Path, help="the weights file to write (.h5)")
    parser.add_argument("--train", choices=["mobilenet", "mobilenet_v2"], help="train this architecture on mnist5k first")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="the recipe (default: params.yaml)")
    args = parser.parse_args(argv)
    def action() -> str:
        if (args.model is None) == (args.train is None):
            raise PipelineError("give a trained model file or --train mobilenet|mobilenet_v2, not both or neither")
        count = (train_backbone(args.train, args.params, args.out) if args.train
                 else write_backbone(args.model, args.out))
        return f"backbone: {count:,} weights → {args.out}"

    return command(action)

if __name__ == "__main__":
    sys.exit(main())
