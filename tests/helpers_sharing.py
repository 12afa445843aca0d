"""`make` and `git` in a copy of the session's build, as the sharing tests (tests/test_dvc_share.py's
experiments, tests/test_dvc_share_remotes.py's remotes) run them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.builds import run_command
from tests.helpers import REPO

VENV = Path(sys.executable).parent.parent


def make(repo: Path, *args: str) -> subprocess.CompletedProcess:
    """`make <args>` with this project's Makefile in `repo` (a build copy: no venv of its own, so the
    Makefile's venv is this interpreter's, taken as installed)."""
    return run_command(["make", "-s", "-f", str(REPO / "Makefile"), f"VENV={VENV}", "-o", f"{VENV}/.installed",
                        *args], repo)


def git(repo: Path, *args: str) -> str:
    return run_command(["git", *args], repo).stdout

