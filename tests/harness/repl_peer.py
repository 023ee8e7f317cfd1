"""Real peers for `invoke verify`: simulated boards on a PTY or socket://.

- ReplPeer: real MicroPython (the WebAssembly port under node,
  repl_server.mjs) showing the figures of a simulated board (BOARDS).
- RomPeer: what an ESP32-S3 prints with no firmware (the ROM's
  'invalid header' boot loop), or nothing at all (a port with no REPL).

Import the fixtures into a test module:

    from harness.repl_peer import repl_peers, rom_peer  # noqa: F401

Tests that need node skip with the reason when node or
tests/harness/node_modules (`npm ci --prefix tests/harness`) is missing;
in CI (CI=true, where .ci/run installs both) they fail with that reason instead.
"""

from __future__ import annotations

import fcntl
import os
import select
import shutil
import subprocess
import tempfile
import threading
import time
import tty
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parent
SERVER = HARNESS / "repl_server.mjs"
WASM_PACKAGE = HARNESS / "node_modules" / "@micropython" / "micropython-webassembly-pyscript"

MB = 1024 * 1024

#: Simulated boards: environment for repl_server.mjs (its defaults are the
#: reference board, esp32s3-n16r8 with mpforge's build of v1.28.0).
BOARDS: dict[str, dict[str, str]] = {
    "reference": {},
    # Stock v1.28.0 ESP32_GENERIC_S3-SPIRAM_OCT on the same N16R8 board: from
    # v1.26 esp.flash_size() is the physical size and vfs grows to fill the
    # flash, so only the name and the build id give it away.
    "stock": {"SIM_MACHINE": "Generic ESP32S3 module with Octal-SPIRAM with ESP32S3",
              "SIM_BUILD": "ESP32_GENERIC_S3-SPIRAM_OCT"},
    "flash8mb": {"SIM_FLASH_SIZE": str(8 * MB), "SIM_FS_SIZE": str(6 * MB)},
    "nopsram": {"SIM_PSRAM_SIZE": "0"},
    # A build without the esp32 module: the probe falls back to gc.mem_free().
    "noesp32": {"SIM_MISSING": "esp32", "SIM_GC_FREE": str(7 * MB)},
    # A program (main.py) runs and prints until verify interrupts it.
    "running": {"SIM_RUNNING": "sensor: 21.5 C"},
    "frozen": {"SIM_FROZEN": "app,sensors"},
    # mpforge_demo built in as a C module (a Python stand-in without __file__), app frozen.
    "cmodule": {"SIM_BUILTIN": "mpforge_demo", "SIM_FROZEN": "app"},
    # mpforge's esp32s3-n16r8-ota build of v1.28.0, running from ota_1 after an
    # update: two 4 MB slots, the vfs made at boot from 0x810000.
    "ota": {"SIM_MACHINE": "ESP32S3 microcontroller with 16MB of Flash & Octal-SPIRAM, OTA with ESP32S3",
            "SIM_BUILD": "ESP32_GENERIC_S3-FLASH_16M_SPIRAM_OCT_OTA", "SIM_FS_SIZE": str(16 * MB - 0x810000),
            "SIM_PARTITIONS": "nvs:1:2:0x9000:0x4000,otadata:1:0:0xd000:0x2000,phy_init:1:1:0xf000:0x1000,"
                              "ota_0:0:0x10:0x10000:0x400000,ota_1:0:0x11:0x410000:0x400000,"
                              f"vfs:1:0x81:0x810000:{16 * MB - 0x810000}",
            "SIM_RUNNING_PARTITION": "ota_1"},
    # A firmware built without raw-paste mode (MICROPY_REPL_EVENT_DRIVEN ports, old builds).
    "noraw": {"SIM_RAW_PASTE": "0"},
    # A v1.24.1 build: no sys.implementation._build yet.
    "v1.24.1": {"SIM_VERSION": "1.24.1", "SIM_BUILD": ""},
    # mpforge's esp32s3-n16r8 build of v1.29.0: the MCU name has a hyphen from v1.29 (3d78efa8c2).
    "v1.29.0": {"SIM_VERSION": "1.29.0",
                "SIM_MACHINE": "ESP32S3 microcontroller with 16MB of Flash & Octal-SPIRAM with ESP32-S3"},
}


def node_skip_reason() -> str | None:
    """Why the REPL peer cannot run here, or None."""
    if shutil.which("node") is None:
        return "node not found on PATH (the MicroPython REPL peer runs under Node 20)"
    if not (WASM_PACKAGE / "micropython.mjs").exists():
        return ("tests/harness/node_modules is missing the MicroPython WebAssembly port: "
                "run `npm ci --prefix tests/harness`")
    return None


def _read_until(fd: int, marker: bytes, timeout: float) -> bytes:
    data = b""
    end = time.monotonic() + timeout
    while marker not in data:
        left = end - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"peer did not print {marker!r}; got {data[-200:]!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                raise EOFError(f"peer closed before printing {marker!r}; got {data[-200:]!r}")
            data += chunk
    return data


class ReplPeer:
    """repl_server.mjs for one simulated board, on a PTY or socket://."""

    def __init__(self, board: str = "reference", transport: str = "pty", **overrides: str):
        reason = node_skip_reason()
        if reason and os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"{reason}; in CI the verify tests must run, not skip", pytrace=False)
        if reason:
            pytest.skip(reason)
        env = dict(os.environ)
        env.update(BOARDS[board])
        env.update(overrides)
        self.board = board
        self.log = tempfile.TemporaryFile()
        self._slave = None
        if transport == "pty":
            master, slave = os.openpty()
            tty.setraw(slave)  # no echo, no line editing: a plain byte pipe, as a UART
            self.proc = subprocess.Popen(["node", str(SERVER), "stdio"], cwd=HARNESS, env=env,
                                         stdin=master, stdout=master, stderr=self.log,
                                         start_new_session=True)
            os.close(master)
            self._slave = slave  # kept open: clients come and go, the line stays up
            self.port = os.ttyname(slave)
            try:
                # Up when the REPL (or the simulated program) prints; drains that.
                ready = env.get("SIM_RUNNING", "").encode() or b">>> "
                _read_until(slave, ready, 20)
            except (TimeoutError, EOFError) as exc:
                self.close()
                raise RuntimeError(f"REPL peer did not start: {exc}; {self.stderr()}") from None
        elif transport == "tcp":
            self.proc = subprocess.Popen(["node", str(SERVER), "tcp:0"], cwd=HARNESS, env=env,
                                         stdout=subprocess.PIPE, stderr=self.log,
                                         start_new_session=True)
            try:
                line = _read_until(self.proc.stdout.fileno(), b"\n", 20).decode()
            except (TimeoutError, EOFError) as exc:
                self.close()
                raise RuntimeError(f"REPL peer did not start: {exc}; {self.stderr()}") from None
            self.port = f"socket://127.0.0.1:{int(line.split()[1])}"
        else:
            raise ValueError(transport)

    def stderr(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-2000:]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        if self._slave is not None:
            os.close(self._slave)
            self._slave = None
        self.log.close()


# A blank ESP32-S3: the ROM finds no image and resets, over and over.
BOOT_LOOP_TEXT = b"ESP-ROM:esp32s3-20210327\r\ninvalid header: 0xffffffff\r\n"


class RomPeer:
    """A PTY that prints `text` every `period` seconds (None: stays silent).

    Reads and drops whatever the client sends, never blocks on a full line.
    """

    def __init__(self, text: bytes | None = BOOT_LOOP_TEXT, period: float = 0.02):
        self.text, self.period = text, period
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        flags = fcntl.fcntl(self.master, fcntl.F_GETFL)
        fcntl.fcntl(self.master, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        self.port = os.ttyname(self._slave)
        self.received = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], self.period)
            if ready:
                try:
                    self.received += os.read(self.master, 4096)
                except OSError:
                    pass
            if self.text:
                try:  # a full line (nobody reading) drops the text, as a UART would
                    os.write(self.master, self.text)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        os.close(self.master)
        os.close(self._slave)


@pytest.fixture(scope="session")
def repl_peers():
    """get(board="reference", transport="pty") -> a started ReplPeer, shared per session."""
    started: dict[tuple[str, str], ReplPeer] = {}

    def get(board: str = "reference", transport: str = "pty") -> ReplPeer:
        key = (board, transport)
        if key not in started:
            started[key] = ReplPeer(board, transport)
        return started[key]

    yield get
    for peer in started.values():
        peer.close()


@pytest.fixture
def rom_peer():
    """make(text=BOOT_LOOP_TEXT) -> a RomPeer, closed after the test."""
    peers: list[RomPeer] = []

    def make(text: bytes | None = BOOT_LOOP_TEXT, period: float = 0.02) -> RomPeer:
        peer = RomPeer(text, period)
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        peer.close()
