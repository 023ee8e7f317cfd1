"""Shared test helpers: run the real invoke tasks in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

# The release the tests build, flash and check, named here instead of taken from
# mpforge's default (invoke.yaml), so a new default release does not change what they test.
RELEASE = "v1.28.0"


def drop_file_override() -> None:
    """In a child (preexec_fn): give up root's right to open any file (CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH), so root sees permission errors as a user does."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.fixture
def invoke_run(tmp_path):
    """Run `invoke ARGS` in the project root with a private workdir.

    Returns a function: invoke_run(*args, env={...}, timeout=...) ->
    CompletedProcess with .stdout/.stderr text.
    """
    base_env = dict(os.environ)
    for key in list(base_env):
        if key.startswith("INVOKE_MPFORGE_"):
            del base_env[key]
    base_env["INVOKE_MPFORGE_WORKDIR"] = str(tmp_path / "work")
    base_env["INVOKE_MPFORGE_IDF_TOOLS_PATH"] = str(tmp_path / "espressif")
    base_env["INVOKE_MPFORGE_MICROPYTHON_VERSION"] = RELEASE
    # Local test repositories are served over file://, which git refuses by default.
    base_env.update({"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "protocol.file.allow",
                     "GIT_CONFIG_VALUE_0": "always"})

    def run(*args, env=None, timeout=300, input=None, preexec_fn=None):
        full_env = dict(base_env)
        full_env.update(env or {})
        return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=ROOT, env=full_env,
                              text=True, capture_output=True, timeout=timeout, input=input,
                              preexec_fn=preexec_fn)

    run.env = base_env
    return run


def one_line_error(result) -> str:
    """The error line a failed task printed; asserts there is exactly one and no traceback."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [l for l in result.stderr.strip().splitlines() if l.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="session")
def sources(tmp_path_factory):
    """Real git repositories (MicroPython, simulated ESP-IDF) made once per session."""
    from harness.fake_repos import make_sources

    return make_sources(tmp_path_factory.mktemp("sources"))


@pytest.fixture
def mp(invoke_run, sources):
    """invoke_run pointed at the session's repositories."""

    def run(*args, env=None, **kw):
        return invoke_run(*args, env={**sources.env(), **(env or {})}, **kw)

    run.env = {**invoke_run.env, **sources.env()}
    return run


@pytest.fixture(autouse=True)
def _events_printed():
    """Library calls made in a test say what they say on stdout, as they do under a task
    (mpforge.cli.task renders mpforge.events through mpforge.ui)."""
    from mpforge import events, ui

    printer = ui.EventPrinter()
    with events.listening(printer):
        yield
    printer.close()


def run_with_stderr_on_a_terminal(argv, *, columns: int = 80, timeout: float = 60, set_columns: bool = True,
                                  **kwargs):
    """subprocess.run(argv) with stderr on a pseudo-terminal `columns` wide (stdout piped): the
    way a user's terminal gets an error line (set_columns: COLUMNS says the width too, else
    only the terminal does). Returns the CompletedProcess, stderr as the terminal received
    it (lines ended by a newline)."""
    import fcntl
    import pty
    import struct
    import termios
    import threading

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {key: value for key, value in (kwargs.pop("env", None) or os.environ).items() if key != "COLUMNS"}
    if set_columns:
        env["COLUMNS"] = str(columns)
    received = bytearray()

    def drain():
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed its end
                return
            if not chunk:
                return
            received.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=slave, text=True, env=env,
                                timeout=timeout, **kwargs)
    finally:
        os.close(slave)
        reader.join(5)
        os.close(master)
    result.stderr = received.decode(errors="replace").replace("\r\n", "\n")
    return result


def wrapped_at_spaces(message: str, lines: list[str], width: int) -> None:
    """Assert `lines` are `message` laid out for `width` columns: none wider, and each break
    at a space, or inside a word longer than the room left for it (a long path folds)."""
    wide = [line for line in lines if len(line) > width]
    assert wide == [], f"wider than {width}: {wide}"
    want = " ".join(message.split())
    rebuilt = " ".join(lines[0].split())
    for line in lines[1:]:
        piece = " ".join(line.split())
        if want.startswith(f"{rebuilt} {piece}"):
            rebuilt = f"{rebuilt} {piece}"
            continue
        assert want.startswith(rebuilt + piece), f"not the message, or not broken at a space: {lines}"
        word = rebuilt.rsplit(" ", 1)[-1] + piece.split(" ", 1)[0]  # the word across the break
        assert len(word) > width - (len(line) - len(line.lstrip())), f"a word broken mid-word: {word!r} in {lines}"
        rebuilt += piece
    assert rebuilt == want, f"lost text: {rebuilt!r} != {want!r}"


def port_record(device: str, vid: int | None, pid: int | None):
    """pyserial's own port record (ListPortInfo) for a device with this USB id, as
    list_ports.comports() gives it: what ports.port_usb_path classifies."""
    from serial.tools.list_ports_common import ListPortInfo

    info = ListPortInfo(device, skip_link_detection=True)
    info.vid, info.pid = vid, pid
    return info
