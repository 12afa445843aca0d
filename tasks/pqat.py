"""Stage pqat: pruning-preserving quantization-aware training of the stripped model → int8 TFLite
files whose pruned weights stay exactly zero (`quantize.pqat`; off: the folder holds a DISABLED note)."""

from __future__ import annotations

from pruneflow.artifacts.files import atomic_dir
from pruneflow.artifacts.points import NOT_APPLICABLE_FILE
from pruneflow.config.params import Config
from pruneflow.deploy.pqat import PqatNotApplicable, pqat_model
from pruneflow.deploy.tflite import PQAT_FORMATS, to_tflite, write_tflite
from pruneflow.models.data import load_split
from pruneflow.models.fit import EpochLog
from pruneflow.models.store import load_model


def run(cfg: Config) -> dict[str, list[float]] | None:
    """Edge: PQAT-fine-tune the stripped pruned model and write its int8 TFLite files to `paths.pqat`;
    return the epochs' wall seconds."""
    with atomic_dir(cfg.paths.pqat) as out:
        if not cfg.quantize.pqat:
            (out / "DISABLED").write_text("quantize.pqat is false in params.yaml\n")
            print("pqat: disabled (quantize.pqat: false)")
            return
        prepared = cfg.paths.prepared
        log = EpochLog(out / "pqat_epochs.csv")
        try:
            qat = pqat_model(load_model(cfg.paths.stripped_model), cfg, load_split(prepared, "train"),
                             load_split(prepared, "val"), [log])
        except PqatNotApplicable as exc:  # the run goes on without PQAT files; bench and the report say so
            (out / NOT_APPLICABLE_FILE).write_text(f"{exc}\n")
            print(f"pqat: not applicable: {exc}")
            return
        log.write()
        for fmt in PQAT_FORMATS:
            write_tflite(out, "pruned_pqat", fmt, to_tflite(qat, fmt))
        print(f"pqat: {sorted(p.name for p in out.iterdir())} → {cfg.paths.pqat}")
    return {"epoch_seconds": log.seconds}

