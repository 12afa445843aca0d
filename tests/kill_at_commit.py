"""Run one stage like DVC does (`python -m pruneflow <args>`), and SIGKILL the process at the first
rename that would publish an output: every new output is then complete in its temporary file,
none is in place yet — the most damaging moment to die. tests/test_dvc_pipeline.py uses it."""

import os
import signal
import sys

from pruneflow.__main__ import main


def _die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    os.replace = _die  # pruneflow/io.py publishes every output (file or folder) with os.replace
    sys.exit(main(sys.argv[1:]))
