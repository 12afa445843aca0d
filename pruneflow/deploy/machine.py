"""The machine a latency was measured on (stage `machine` → `paths.machine`): what decides how fast a
TFLite file runs here, and nothing that changes from run to run on the same machine.

Every latency stage (bench, latency_table, channel_bench, sweep) lists `reports/machine.json` as a
dependency. The stage always runs: on the same machine it writes the same bytes and nothing downstream
reruns; on another CPU, another core count or another litert/TensorFlow the file changes and DVC
re-measures every latency there. No TensorFlow import: the stage costs a second.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

# The CPU features XNNPACK picks its kernels by (x86: AVX/AVX2/FMA, AVX-512 and its VNNI dot products,
# AVX-VNNI, AMX; Arm: NEON dot product, i8mm, fp16, SVE), as /proc/cpuinfo names them.
ISA_FEATURES = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
                "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16",
                "asimd", "asimddp", "i8mm", "fphp", "sve", "sve2")
PACKAGES = ("ai-edge-litert", "tensorflow")


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's model name (/proc/cpuinfo; `platform.processor()` elsewhere)."""
    for line in (_cpuinfo() if cpuinfo is None else cpuinfo).splitlines():
        if line.split(":", 1)[0].strip() in ("model name", "Model", "Hardware"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def cpu_count() -> int:
    """The cores this process may run on (its affinity mask, not the host's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def isa_features(cpuinfo: str | None = None) -> dict[str, bool]:
    """Each feature of `ISA_FEATURES`: whether the CPU reports it (flags / Features lines)."""
    flags: set[str] = set()
    for line in (_cpuinfo() if cpuinfo is None else cpuinfo).splitlines():
        if line.split(":", 1)[0].strip() in ("flags", "Features"):
            flags.update(line.split(":", 1)[1].split())
    return {name: name in flags for name in ISA_FEATURES}


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def facts(threads: list[int]) -> dict[str, Any]:
    """machine.json: the CPU, its cores and ISA features, the runtime versions and the thread counts
    benchmarked. Deterministic on one machine (no clock, no load, no host name)."""
    return {"cpu": cpu_model(), "arch": platform.machine(), "cores": cpu_count(), "isa": isa_features(),
            "versions": {package: _version(package) for package in PACKAGES},
            "threads_benchmarked": sorted(set(threads))}


def describe(machine: dict[str, Any]) -> str:
    """One line naming the machine, for the report, `make show` and the PR comment."""
    isa = [name for name, present in machine.get("isa", {}).items() if present
           and name in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm", "sve")]
    versions = machine.get("versions", {})
    return (f"{machine.get('cpu', 'unknown CPU')} ({machine.get('arch', '?')}, {machine.get('cores', '?')} cores; "
            f"{', '.join(isa) or 'no AVX2/NEON-dot'}; litert {versions.get('ai-edge-litert', '?')})")
