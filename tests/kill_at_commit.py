"""Run one stage like DVC does (`python kill_at_commit.py N <stage> [args]`), and SIGKILL the process at
its N-th rename (os.replace): at 1 every new output is complete in its temporary and none is in place
yet; at 2 a stage's first file output is published, or a folder output is half-way through its swap
(the old folder moved aside, the new one not yet in). tests/test_dvc_pipeline.py uses it."""

import os
import signal
import sys

from pruneflow.__main__ import main

if __name__ == "__main__":
    die_at, replace, calls = int(sys.argv[1]), os.replace, []

    def replace_or_die(*args, **kwargs):
        calls.append(args)
        if len(calls) == die_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return replace(*args, **kwargs)

    os.replace = replace_or_die  # pruneflow/io.py publishes every output (file or folder) with os.replace
    sys.exit(main(sys.argv[2:]))
