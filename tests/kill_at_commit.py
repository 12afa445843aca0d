"""Run one stage like DVC does (`python kill_at_commit.py N <stage> [args]`), and SIGKILL the process at
the N-th rename that publishes (os.replace onto a real output name; renames inside a temporary
folder being filled do not count): at 1 every new output is complete in its temporary and none is in
place yet; at 2 a stage's first file output is published, or a folder output is half-way through its
swap (the old folder moved aside, the new one not yet in). tests/test_dvc_faults.py uses it."""

import os
import signal
import sys

from pruneflow.__main__ import main
from pruneflow.artifacts.files import TMP_MARK

if __name__ == "__main__":
    die_at, replace, calls = int(sys.argv[1]), os.replace, []

    def replace_or_die(*args, **kwargs):
        if TMP_MARK in str(args[1]):  # a file put in place inside a folder being filled: not a publish
            return replace(*args, **kwargs)
        calls.append(args)
        if len(calls) == die_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return replace(*args, **kwargs)

    os.replace = replace_or_die  # pruneflow/artifacts/files.py publishes every output (file or folder) with os.replace
    sys.exit(main(sys.argv[2:]))
