"""<workdir>/logs/<step>-<port>.log: everything one board said during one task.

esptool's output when flashing or erasing, the REPL exchange when verifying,
and mpforge's own steps, each line time-stamped. The file is rewritten on each
run of the task for that port; a failure's one line names it.
"""

from __future__ import annotations

import datetime
import re
import threading
import time
from pathlib import Path


def _now() -> str:
    return datetime.datetime.now().isoformat(timespec="milliseconds")


def path(workdir: Path, step: str, port: str) -> Path:
    """The log file for a step on a port. The port is user text: only [A-Za-z0-9._-]
    survive into the file name, so '../x' or 'socket://h:1' cannot leave logs/."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", port.removeprefix("/dev/")).strip("._") or "port"
    return Path(workdir) / "logs" / f"{step}-{slug}.log"


class PortLog:
    """One port's log file, written as lines come (a crash still leaves the log)."""

    def __init__(self, workdir: Path, step: str, port: str):
        self.path = path(workdir, step, port)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", encoding="utf-8", errors="replace", buffering=1)
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self.write(f"{step} {port}")

    def write(self, text: str) -> None:
        stamp = f"{time.monotonic() - self._start:8.3f}"
        with self._lock:
            if self._file.closed:
                return
            for line in str(text).splitlines() or [""]:
                self._file.write(f"{stamp} {line}\n")

    def mark(self, what: str) -> None:
        """A line with the wall-clock time, e.g. 'began 2026-01-01T10:00:00.123'."""
        self.write(f"{what} {_now()}")

    def close(self) -> None:
        with self._lock:
            self._file.close()


def _printable(data: bytes) -> str:
    text = data.decode("utf-8", "replace")
    return "".join(ch if ch.isprintable() or ch == "\t" else f"^{chr(ord(ch) + 64)}"
                   if ord(ch) < 32 else f"\\x{ord(ch):02x}" for ch in text)


class Wiretap:
    """A serial port that writes what goes over it to a log: '> ' sent, '< ' received,
    one log line per line of text (the REPL reads a byte at a time and writes in
    256-byte chunks; a part line is written when the direction turns). Everything
    else is the port's own."""

    def __init__(self, port, write_line):
        object.__setattr__(self, "_port", port)
        object.__setattr__(self, "_write_line", write_line)
        object.__setattr__(self, "_pending", {"<": b"", ">": b""})

    def __getattr__(self, name):
        return getattr(self._port, name)

    def __setattr__(self, name, value):
        setattr(self._port, name, value)

    def _add(self, mark: str, data: bytes) -> None:
        other = ">" if mark == "<" else "<"
        self._flush(other)
        *lines, tail = (self._pending[mark] + data).replace(b"\r\n", b"\n").split(b"\n")
        for line in lines:
            self._write_line(f"{mark} {_printable(line)}")
        self._pending[mark] = tail

    def _flush(self, mark: str) -> None:
        if self._pending[mark]:
            self._write_line(f"{mark} {_printable(self._pending[mark])}")
            self._pending[mark] = b""

    def read(self, size: int = 1) -> bytes:
        data = self._port.read(size)
        if data:
            self._add("<", data)
        return data

    def write(self, data) -> int | None:
        self._add(">", bytes(data))
        return self._port.write(data)

    def close(self) -> None:
        self._flush("<")
        self._flush(">")
        self._port.close()
