"""mpforge tasks: one thin task per pipeline step. The work is in mpforge/.

    invoke build-all                      fetch, overlay, configure and build
    invoke flash --port /dev/ttyACM0      write the firmware to a board
    invoke verify --port /dev/ttyACM0     prove on the board that it is right

`invoke --list` shows every task, `invoke --help TASK` its flags.
Settings: invoke.yaml (key `mpforge`), INVOKE_MPFORGE_* variables, flags.
"""

from mpforge.cli import settings, task  # noqa: F401

# ---- pipeline: install-prereqs, fetch, mpy-cross, overlay, config, build --------

# ---- board side: erase, flash, ports ----------------------------------------------

# ---- board side: verify -------------------------------------------------------------
