"""An output folder that cannot be written (read-only, or a full disk) is one line, exit status 2, and
leaves the earlier outputs and no partial file."""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO
from tests.helpers_bad_input import ingested_workspace, outputs


@pytest.fixture
def workspace(in_tmp: Path) -> Path:
    """The tiny ingested folder dataset, with stand-ins for later stages' models (`ingested_workspace`)."""
    return ingested_workspace(in_tmp)


def without_override() -> None:
    """In the child: as root, give up the capabilities that ignore file permissions, so a read-only
    folder stops root's writes as it stops anyone's (a user without root needs nothing)."""
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        for capability in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
            if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP: gone after exec
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def cli(root: Path, preexec) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "pruneflow", "ingest"], cwd=root, env=env, capture_output=True,
                          text=True, preexec_fn=preexec, timeout=300)


def test_a_read_only_output_folder_is_one_line_and_leaves_no_partial_file(workspace: Path) -> None:
    root = workspace
    before = outputs(root)
    (root / "data").chmod(0o555)
    try:
        result = cli(root, without_override)
    finally:
        (root / "data").chmod(0o755)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == ("pruneflow: error: data/prepared: cannot write (Permission denied); make data "
                                     "writable or point paths.* elsewhere; the previous prepared, if any, is unchanged")
    assert outputs(root) == before
    assert not list(root.rglob("*.pruneflow-tmp-*"))


def test_a_full_disk_is_one_line_and_leaves_no_partial_file(workspace: Path) -> None:
    root = workspace
    before = outputs(root)

    def small_disk() -> None:  # writes past 4 KB fail with EFBIG, as they would with ENOSPC on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))

    result = cli(root, small_disk)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == ("pruneflow: error: data/prepared: cannot write (File too large); free space on "
                                     "that disk (or raise the file size limit); the previous prepared, if any, is "
                                     "unchanged")
    assert outputs(root) == before
    assert not list(root.rglob("*.pruneflow-tmp-*"))
