"""Run invoke and log every program it starts (tests only).

    python tests/harness/spawn_log.py LOGFILE [invoke arguments ...]

Every child process in Python goes through subprocess.Popen._execute_child
(subprocess.run, Popen, check_output alike); this wraps it to append the
command line to LOGFILE, then starts the program as usual. The tests use it
to show that a no-op runs no git, cmake or kconfgen at all.
"""

from __future__ import annotations

import subprocess
import sys


def main() -> None:
    log, args = sys.argv[1], sys.argv[2:]
    start = subprocess.Popen._execute_child

    def logged(self, cmd, *rest, **kw):
        with open(log, "a") as handle:
            handle.write((" ".join(map(str, cmd)) if isinstance(cmd, (list, tuple)) else str(cmd)) + "\n")
        return start(self, cmd, *rest, **kw)

    subprocess.Popen._execute_child = logged
    from invoke.main import program

    sys.argv = ["invoke", *args]
    program.run()


if __name__ == "__main__":
    main()
