"""The board's REPL for verify: open the port, enter the raw REPL, run the probe.

Over mpremote's SerialTransport (the port is opened with pyserial's
serial_for_url, so a device path, socket://host:port and rfc2217://host:port
all work): interrupt whatever runs, enter the raw REPL once without a soft
reset, send scripts/board_probe.py (raw-paste mode where the board has it,
docs/performance.md) and read back the JSON report it prints. A port with no
REPL behind it, a ROM boot loop or download mode ends in one line.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from pathlib import Path

from mpforge import PROJECT_ROOT
from mpforge.errors import UserError

STEP = "verify"
PROBE = PROJECT_ROOT / "scripts" / "board_probe.py"
#: MicroPython's REPL runs at 115200 baud on a UART (USB-CDC ignores it).
REPL_BAUD = 115200
#: How long to wait for the raw REPL, in seconds (setting mpforge.verify.timeout).
DEFAULT_TIMEOUT = 5.0

RAW_REPL_BANNER = b"raw REPL; CTRL-B to exit\r\n"
_STDOUT_SWAP = threading.Lock()



def _port_error(port: str, exc: BaseException) -> UserError:
    """The port's one-line error (shared with flash), said by verify."""
    from mpforge.board import ports

    return UserError(STEP, f"{ports.port_error(port, exc)}")


def open_port(port: str, *, baud: int = REPL_BAUD, timeout: float = 2.0):
    """An mpremote SerialTransport on the port, opened exclusively; one-line errors."""
    import serial
    from mpremote.transport import TransportError
    from mpremote.transport_serial import SerialTransport

    if not port:
        raise UserError(STEP, "no port; pass --port /dev/ttyACM0 (or socket://host:port), "
                        "or set mpforge.port")
    try:
        return SerialTransport(port, baudrate=baud, exclusive=True, timeout=timeout)
    except (TransportError, OSError, ValueError) as first:
        # SerialTransport hides why the port would not open: open it once more
        # ourselves to find out (missing, busy, no permission, bad URL ...).
        try:
            probe = serial.serial_for_url(port, baudrate=baud, exclusive=True, timeout=timeout)
        except (OSError, ValueError) as exc:
            raise _port_error(port, exc) from None
        probe.close()
        raise _port_error(port, first) from None


# What a board that is not (yet) running MicroPython prints instead of a REPL.
_INVALID_HEADER = b"invalid header"
_ROM_BANNER = b"ESP-ROM:"
_RESET = b"rst:0x"
# What MicroPython prints, in a loop, when the filesystem where it looks is not one it can
# mount: e.g. a LittleFS made for another layout (docs/filesystem.md).
FS_CORRUPTED = b"The filesystem appears to be corrupted"


def fs_corrupted_hint(port: str) -> str:
    return (f"the board's files were made for another filesystem layout: `invoke backup --port "
            f"{port}` copies them off the board, `invoke restore --port {port}` writes them back "
            "in the layout of the firmware it runs")


def _boot_trouble(port: str, seen: bytes) -> UserError | None:
    """A one-line error if the output is a ROM boot loop (or download mode)."""
    from mpforge.board import ports

    if seen.count(_INVALID_HEADER) >= 2:
        return UserError(
            STEP, f"the board on {port} is in a boot loop: the ROM prints 'invalid header: "
            f"0xffffffff' over and over (no firmware, e.g. a blank chip); flash it with "
            f"`invoke flash --port {port}`")
    if seen.count(_ROM_BANNER) + seen.count(_RESET) >= 4:
        return UserError(
            STEP, f"the board on {port} is in a boot loop: it keeps resetting (the ROM boot "
            f"messages repeat); reflash it with `invoke flash --port {port}`")
    if ports.in_download_mode(seen):
        return UserError(
            STEP, f"the board on {port} is in download mode (the ROM waits for a download); "
            "press its RESET button (or replug it) and retry")
    if seen.count(FS_CORRUPTED) >= 2:
        return UserError(
            STEP, f"the firmware on {port} says 'The filesystem appears to be corrupted' over "
            f"and over: {fs_corrupted_hint(port)}")
    return None


def _printable_tail(data: bytes, n: int = 60) -> str:
    text = data.decode("ascii", "replace")
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(text.split())[-n:]


def enter_raw_repl(transport, port: str, timeout: float) -> bytes:
    """Interrupt the running program and enter the raw REPL, without a soft reset.

    Watches the output while waiting, so that a ROM boot loop or a port with
    no REPL behind it ends in a one-line error, not a hang. Returns what the
    board printed before the raw REPL.
    """
    from mpremote.transport import TransportError

    ser = transport.serial
    saved = ser.timeout
    ser.timeout = 0.05
    try:
        ser.reset_input_buffer()
    except (OSError, AttributeError):
        pass
    seen = b""
    deadline = time.monotonic() + timeout
    last_poke = float("-inf")
    pokes = 0
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            # Ctrl-C Ctrl-C (stop any program), Ctrl-A (raw REPL); again every
            # second, in case the board was still booting and lost them.
            if now - last_poke >= 1.0:
                ser.write(b"\r\x03\x03\r\x01")
                last_poke = now
                pokes += 1
            # A byte at a time: stop right after the banner, so that the raw
            # REPL's prompt is still unread for mpremote's exec, which waits for it.
            chunk = ser.read(1)
            if chunk:
                seen = (seen + chunk)[-8192:]
                if seen.endswith(RAW_REPL_BANNER):
                    break
                trouble = _boot_trouble(port, seen) if chunk == b"\n" else None
                if trouble:
                    raise trouble
        if RAW_REPL_BANNER not in seen:
            trouble = _boot_trouble(port, seen) if seen else None
            if trouble:
                raise trouble
            if not seen.strip():
                raise UserError(
                    STEP, f"no answer from {port} within {timeout:g} s: no MicroPython REPL "
                    f"there (is this the board's port, and is MicroPython flashed? After a flash "
                    f"that could not reset the board, press its RESET button)")
            raise UserError(
                STEP, f"{port} answered, but not as a MicroPython REPL (last output: "
                f"'{_printable_tail(seen)}'); is MicroPython flashed on that board?")
        if pokes == 1:
            # One Ctrl-A, one banner, nothing else on the way: in the raw REPL
            # now, so do not enter it again through mpremote (a round trip).
            transport.in_raw_repl = True
            return seen
        # In the raw REPL after several Ctrl-As: let their echoes arrive, then
        # synchronise once more with mpremote's own (no soft reset).
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < 0.1 and time.monotonic() < deadline + 1:
            if ser.read(4096 if ser.in_waiting > 4096 else max(1, ser.in_waiting)):
                quiet_since = time.monotonic()
    finally:
        ser.timeout = saved
    try:
        # It prints raw bytes on failure. redirect_stdout swaps sys.stdout for the whole
        # process: one board at a time, or parallel boards restore each other's swap.
        with _STDOUT_SWAP, contextlib.redirect_stdout(io.StringIO()):
            transport.enter_raw_repl(soft_reset=False, timeout_overall=timeout)
    except TransportError:
        raise UserError(STEP, f"{port} stopped answering while entering the raw REPL; "
                        "retry, or reset the board") from None
    return seen


def parse_probe_output(out: bytes) -> dict:
    """The JSON line the probe printed (the last line that is a JSON object)."""
    text = out.decode("utf-8", "replace")
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                break
            if isinstance(value, dict):
                return value
    raise UserError(STEP, f"the board probe printed no report (output: '{_printable_tail(out)}')")


def compact(source: str) -> str:
    """The probe as sent: no comment or blank lines, one space per indent level.

    A board without raw-paste mode takes code in 256-byte pieces 10 ms apart
    (mpremote's raw REPL fallback), so half the bytes is half that wait.
    Code that does not survive this (indents not in fours) is sent as it is."""
    lines = []
    for line in source.splitlines():
        text = line.lstrip(" ")
        if text and not text.startswith("#"):
            lines.append(" " * ((len(line) - len(text)) // 4) + text)
    small = "\n".join(lines) + "\n"
    try:
        compile(small, "board_probe", "exec")
    except SyntaxError:
        return source
    return small


def probe_board(port: str, *, timeout: float = DEFAULT_TIMEOUT, probe: Path = PROBE, imports=(),
                reporter=None) -> dict:
    """Run the probe on the board at port and return what it reported.

    reporter (parallel.BoardReporter): gets each step, and the REPL exchange for the port's log.
    """
    import serial
    from mpremote.transport import TransportError, TransportExecError

    from mpforge.board import portlog

    step = reporter.step if reporter else (lambda text: None)
    source = f"MPFORGE_IMPORTS = {list(imports)!r}\n" + compact(probe.read_text())
    step("opening the port")
    transport = open_port(port)
    if reporter:
        transport.serial = portlog.Wiretap(transport.serial, reporter.detail)
    try:
        step("entering the raw REPL")
        seen = enter_raw_repl(transport, port, timeout)
        step("running the probe")
        try:
            out = transport.exec(source)
        except TransportExecError as exc:
            lines = [l for l in str(exc.error_output).strip().splitlines() if l.strip()]
            raise UserError(STEP, f"the board probe failed on {port}: "
                            f"{lines[-1] if lines else 'no error text'}") from None
        except TransportError as exc:
            raise UserError(STEP, f"lost the REPL on {port} while running the probe: {exc}") from None
        result = parse_probe_output(out)
        if FS_CORRUPTED in seen:  # Ctrl-C broke the firmware's loop: no filesystem mounted
            result["fs_corrupted"] = True
        try:
            transport.exit_raw_repl()
        except (OSError, serial.SerialException):
            pass
        return result
    except serial.SerialException as exc:
        raise UserError(STEP, f"the connection to {port} dropped: "
                        f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    finally:
        with contextlib.suppress(Exception):
            transport.close()
