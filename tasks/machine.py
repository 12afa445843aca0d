"""Stage machine: the CPU, its cores and ISA features, the litert and TensorFlow versions and the thread
counts benchmarked → `paths.machine`. It always runs; every latency stage depends on its output, so on
another machine DVC re-measures them and on this one nothing reruns (`pruneflow.deploy.machine`)."""

from __future__ import annotations

from pruneflow.artifacts.files import write_json
from pruneflow.config.params import Config
from pruneflow.deploy.machine import describe, facts


def run(cfg: Config) -> None:
    """Edge: describe this machine (no TensorFlow import)."""
    threads = [*cfg.bench.threads, *(budget.threads for budget in cfg.channels.budgets())]
    machine = facts(threads)
    write_json(cfg.paths.machine, machine)
    print(f"machine: {describe(machine)}")
