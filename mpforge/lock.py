"""Locks: one mpforge run at a time per workdir, and per serial port.

Two runs on one workdir would clone, overlay and build into the same trees
at once; two on one port would interleave esptool and REPL traffic. A lock
is an flock(2) on a small file: `<workdir>/mpforge.lock` for the workdir,
and one file per port in the user's lock folder ($XDG_RUNTIME_DIR/mpforge,
else the temp folder) for board tasks. The kernel drops an flock when the
process that holds it ends, however it ends, so a lock left by a killed run
never blocks anyone. A second run waits, saying once what it waits for;
with --no-wait it refuses in one line instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import sys
import tempfile
from pathlib import Path

from mpforge import events
from mpforge.errors import UserError

WORKDIR_LOCK = "mpforge.lock"
#: False: refuse instead of waiting (the --no-wait flag; the task layer sets it).
wait = True
_held: dict[Path, int] = {}  # lock file -> open descriptor, for nested holds in one process


def _holder(fd: int) -> str:
    """Who holds the lock, as the holder wrote it ('pid 123: invoke build')."""
    try:
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return "".join(ch if ch.isprintable() else "?" for ch in text) or "another mpforge run"


@contextlib.contextmanager
def hold(path: Path, what: str):
    """Hold the lock at path for the block; `what` names it in messages ('workdir /x/work')."""
    path = Path(path)
    if path in _held:  # this process holds it already (a task that runs another step)
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            if not wait:
                raise UserError(f"{what} is in use by {holder}; run again when it is done "
                                "(without --no-wait, mpforge waits for it)") from None
            events.waiting(f"waiting for {what}: in use by {holder} (Ctrl-C to stop)")
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:  # who holds it, for the next run's message; on a full disk the lock works without
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}: {' '.join(['invoke', *sys.argv[1:]])[:150]}\n".encode(), 0)
        except OSError:
            pass
        _held[path] = fd
        yield
    finally:
        _held.pop(path, None)
        os.close(fd)  # closing the descriptor releases the flock


def workdir(path: Path):
    """The lock of one workdir (every task that writes or reads its clones and builds)."""
    return hold(Path(path) / WORKDIR_LOCK, f"workdir {path}")


def port_lock_dir() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return Path(runtime) / "mpforge" if runtime else Path(tempfile.gettempdir()) / f"mpforge-{os.getuid()}"


def port(name: str):
    """The lock of one serial port or URL, shared by every workdir of this user. A device
    path is keyed by the device it names, so /dev/serial/by-id/... and /dev/ttyACM0 share one."""
    device = name if "://" in name else os.path.realpath(name)
    key = hashlib.sha256(device.encode()).hexdigest()[:16]
    return hold(port_lock_dir() / f"port-{key}.lock", f"port {name}")
