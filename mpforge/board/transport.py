"""The link to one board's ROM bootloader, with esptool's Python API (esptool>=5,<6):
connect, start the stub, switch baud (slower after a link error), attach the flash,
reset at the end and say whether that really happened. esptool's own output goes
to the board's Reporter, never to the terminal; nothing here reads esptool's text,
only its return values and FatalError.
"""

from __future__ import annotations

import contextlib
import threading
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import serial
from esp_pylib.logger import EspLogBase
from esptool.cmds import attach_flash, detect_chip, reset_chip, run_stub
from esptool import reset as esptool_reset
from esptool.logger import log as esptool_log
from esptool.util import FatalError, PrintOnce

from mpforge.board import ports
from mpforge.errors import UserError
from mpforge.model import chips
from mpforge.model.settings import DEFAULT_READ_TIMEOUT, ROM_BAUD, check_baud

if TYPE_CHECKING:
    from mpforge.model.fingerprint import Fingerprint


FALLBACK_BAUDS = (921600, 460800, 115200)


@dataclass(frozen=True)
class Link:
    """How to reach boards: reset modes (CI peers have no reset lines: no-reset), baud."""

    before: str = "default-reset"
    after: str = "hard-reset"  # "auto" from the settings until fleet chooses it per port
    baud: int = 921600
    connect_attempts: int = 7
    read_timeout: float = DEFAULT_READ_TIMEOUT
    after_why: str = ""  # why this reset: the setting, or the port's USB path (policy.reset_after)
    after_auto: bool = False  # chosen by mpforge from the port, not set by the user

    @classmethod
    def from_settings(cls, settings, baud: int | None = None, chip: str | None = None) -> "Link":
        """The settings' link (parsed and checked in model/settings); `baud` (the --baud flag)
        over the setting; the reset after, checked against what esptool can do with `chip`."""
        target = chips.get(chip) if chip else chips.default()
        if settings.after != "auto" and target.after_modes and settings.after not in target.after_modes:
            raise UserError(f"settings: 'after' is '{settings.after}', which esptool cannot do on an "
                            f"{target.name}; use one of {', '.join(target.after_modes)}")
        return cls(settings.before, settings.after, check_baud(baud or settings.baud), settings.connect_attempts,
                   settings.read_timeout)

    def bauds(self) -> list[int]:
        """The requested rate, then the slower fallbacks."""
        return [self.baud] + [b for b in FALLBACK_BAUDS if b < self.baud]


class Reporter:
    """Where one board's progress goes. Subclasses draw it; this one keeps a transcript."""

    def __init__(self, port: str):
        self.port = port
        self.board: Fingerprint | None = None
        self.transcript: list[str] = []
        self.warnings: list[str] = []

    def step(self, text: str, keep: bool = False) -> None:
        """What the board is doing now; `keep`: worth a line of its own in a log."""
        self.transcript.append(text)

    def found(self, board: Fingerprint) -> None:
        self.board = board
        self.step(board.describe(), keep=True)

    def progress(self, done: int, total: int, sent: int = 0) -> None:
        pass

    def esptool(self, text: str, warning: bool = False) -> None:
        """esptool's own output; its warnings are kept to be shown at the end."""
        self.transcript.append(text)
        if warning:
            self.warnings.append(text)


class _Bridge(EspLogBase):
    """esptool's logger, sending each thread's output to that thread's Reporter.

    Boards are flashed in parallel threads and esptool has one global logger;
    a thread with no Reporter (not mpforge's) keeps esptool's usual output.
    """

    def __init__(self, fallback: EspLogBase):
        self.fallback = fallback
        self.local = threading.local()

    def _to(self, name, *args, **kwargs):
        reporter = getattr(self.local, "reporter", None)
        if reporter is None:
            return getattr(self.fallback, name)(*args, **kwargs)
        text = " ".join(str(a) for a in args).strip()
        if text:
            reporter.esptool(text, warning=name in ("warn", "err"))

    def print(self, *args, **kwargs):
        self._to("print", *args, **kwargs)

    def err(self, *args, suggestion=None):
        self._to("err", *args)

    def warn(self, *args, suggestion=None):
        self._to("warn", *args)

    def note(self, *args):
        self._to("note", *args)

    def hint(self, *args):
        self._to("hint", *args)

    def debug(self, *args):
        self._to("debug", *args)

    def stage(self, finish=False):
        if getattr(self.local, "reporter", None) is None:
            self.fallback.stage(finish)

    def set_verbosity(self, mode):
        self.fallback.set_verbosity(mode)

    def progress_bar(self, cur_iter, total_iters, prefix="", suffix="", bar_length=30):
        reporter = getattr(self.local, "reporter", None)
        if reporter is None:
            return self.fallback.progress_bar(cur_iter, total_iters, prefix, suffix, bar_length)
        if not getattr(self.local, "counted", False):  # a write's progress: counted_writes reports it
            reporter.progress(cur_iter, total_iters)


_bridge_lock = threading.Lock()


def _bridge() -> _Bridge:
    with _bridge_lock:
        from esp_pylib.logger import EspLog
        current = EspLog.instance
        if not isinstance(current, _Bridge):
            current = _Bridge(current or EspLog())
            esptool_log.set_logger(current)
            # esptool binds its "chip was NOT reset" warning to the logger of import time
            esptool_reset.ResetStrategy.print_once = PrintOnce(esptool_log.warn)
        return current


@contextlib.contextmanager
def reporting_to(reporter: Reporter):
    """esptool output on this thread goes to `reporter` while inside."""
    bridge = _bridge()
    previous = getattr(bridge.local, "reporter", None)
    bridge.local.reporter = reporter
    try:
        yield
    finally:
        bridge.local.reporter = previous


@dataclass
class Done:
    """What a job did on the board; a retry after a link error does not do it again."""

    erase_started: bool = False
    files: object = None  # device's plan for the board's files, once made


class WriteCounter:
    """Bytes esptool writes to the chip's flash, and the bytes it sends over the link for
    them (fewer: it sends them compressed); its API returns neither. With a reporter, each
    write's progress in bytes written (esptool's own progress counts the compressed bytes)."""

    def __init__(self, reporter: Reporter | None = None):
        self.bytes = 0  # written to flash
        self.sent = 0  # over the link, for them
        self.reporter = reporter
        self._write = [0, 0, 0]  # the write under way: bytes written, of size, bytes sent
        self._inflate = None

    def attach(self, esp) -> None:
        begin, defl_begin, block, defl_block = (esp.flash_begin, esp.flash_defl_begin, esp.flash_block,
                                                 esp.flash_defl_block)

        def flash_begin(size, *args, **kwargs):
            self._begin(size, None)
            return begin(size, *args, **kwargs)

        def flash_defl_begin(size, compsize, *args, **kwargs):
            self._begin(size, zlib.decompressobj())
            return defl_begin(size, compsize, *args, **kwargs)

        def flash_block(data, *args, **kwargs):  # the last block is padded: count the image's bytes
            answer = block(data, *args, **kwargs)
            done, size, _ = self._write
            self._advance(min(len(data), size - done), min(len(data), size - done))
            return answer

        def flash_defl_block(data, *args, **kwargs):
            answer = defl_block(data, *args, **kwargs)
            self._advance(len(self._inflate.decompress(data)) if self._inflate else 0, len(data))
            return answer

        esp.flash_begin, esp.flash_defl_begin = flash_begin, flash_defl_begin
        esp.flash_block, esp.flash_defl_block = flash_block, flash_defl_block

    def _begin(self, size: int, inflate) -> None:
        self.bytes += size
        if size:  # flash_begin(0, 0) is esptool's way to start the flash, not a write
            self._write, self._inflate = [0, size, 0], inflate

    def _advance(self, written: int, sent: int) -> None:
        self.sent += sent
        self._write[0] += written
        self._write[2] += sent
        if self.reporter is not None:
            done, size, on_link = self._write
            self.reporter.progress(done, size, on_link)


@contextlib.contextmanager
def counted_writes(esp, reporter: Reporter):
    """A WriteCounter on `esp` that reports each write's progress to `reporter` in bytes
    written (instead of esptool's progress on this thread, in compressed bytes)."""
    counter = WriteCounter(reporter)
    counter.attach(esp)
    bridge = _bridge()
    before = getattr(bridge.local, "counted", False)
    bridge.local.counted = True
    try:
        yield counter
    finally:
        bridge.local.counted = before


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# esptool's words for a link that lost bytes or went quiet (loader.py). Anything else it
# raises is a refusal (an unsupported option, a wrong argument): a slower baud cannot fix it.
_LINK_WORDS = ("timed out", "timeout", "packet", "serial", "corrupt", "stopped", "disconnected",
               "no response")
ESPTOOL_ERRORS = (FatalError, serial.SerialException, OSError)


def link_trouble(exc: BaseException) -> bool:
    """Whether an error is the link's (worth a retry at a lower baud), not a refusal."""
    if isinstance(exc, (serial.SerialException, OSError)):
        return True
    return isinstance(exc, FatalError) and any(w in str(exc).lower() for w in _LINK_WORDS)


def connect(port: str, link: Link):
    """Open the port and sync with the ROM bootloader; one-line errors for every failure."""
    ser = ports.open_port(port, ROM_BAUD, timeout=link.read_timeout)
    try:
        esp = detect_chip(ser, ROM_BAUD, link.before, False, link.connect_attempts)
    except ESPTOOL_ERRORS:
        ser.close()
        raise ports.no_bootloader_error(port) from None
    except BaseException:
        ser.close()
        raise
    return esp


def look(port: str, link: Link, read):
    """A quick look at a board through its ROM bootloader: connect, attach the flash, return
    read(esp), close. No stub and no reset: the board waits in download mode for the next
    session (flash's own, after its profile is chosen from what this read)."""
    esp = connect(port, link)
    try:
        attach_flash(esp)
        return read(esp)
    except ESPTOOL_ERRORS as exc:
        raise UserError(f"{port}: could not read the board through its ROM bootloader "
                        f"({first_line(exc)}); check the cable and run again") from None
    finally:
        with contextlib.suppress(Exception):
            esp._port.close()


def session(port: str, link: Link, reporter: Reporter, result, work, *, stub: bool = True):
    """Connect, start the stub, switch baud, attach flash, run `work(esp, done)`, reset.

    A link error (lost bytes, a timeout) retries the session at the next slower
    baud rate; `done` tells the retry what not to repeat. A refusal ends the job.
    stub=False: a few reads in the ROM itself at its own baud rate (detect), which saves
    the stub's upload (about 1.3 s at 115200 baud) that a transfer needs.
    """
    bauds = link.bauds() if stub else [ROM_BAUD]
    done = Done()
    for attempt, baud in enumerate(bauds):
        reporter.step("connecting")
        esp = connect(port, link)
        try:
            try:
                esp = run_stub(esp) if stub else esp
            except ESPTOOL_ERRORS as exc:
                raise UserError(f"could not start the flasher stub on {port}: {first_line(exc)} "
                                f"(waited {link.read_timeout:g} s; raise the `read_timeout` setting "
                                "for a slow link)") from None
            # esptool's own reconnect after a lost link stays at the same session, unseen:
            # mpforge retries itself, one baud rate lower, knowing what not to repeat
            esp.WRITE_FLASH_ATTEMPTS = 1
            try:
                if baud != ROM_BAUD:
                    esp.change_baud(baud)
                attach_flash(esp)
                result.baud, result.baud_fell_back = baud, attempt > 0
                value = work(esp, done)
            except ESPTOOL_ERRORS as exc:
                if not link_trouble(exc):
                    raise UserError(f"{port}: esptool refused: {first_line(exc)}") from None
                if attempt == len(bauds) - 1:
                    raise UserError(f"{port}: lost the board at {baud} baud ({first_line(exc)}); "
                                    "check the cable and run again (the next run finishes the "
                                    "job)") from None
                reporter.step(f"errors at {baud} baud ({first_line(exc)}); "
                              f"retrying at {bauds[attempt + 1]}", keep=True)
                continue
            reset(esp, port, link, reporter, result)
            return value
        finally:
            with contextlib.suppress(Exception):
                esp._port.close()
    raise AssertionError("unreachable")


PRESS_RESET = "press the board's RESET button (before `invoke verify`)"


def reset(esp, port: str, link: Link, reporter: Reporter, result) -> None:
    """Reset the board as `after` says, and record whether that really happened (and
    which reset, and why: result.reset_mode, result.reset_why)."""
    if link.after == "auto":
        raise AssertionError("the reset is chosen per port before the session (fleet)")
    result.reset_mode, result.reset_why, result.reset_auto = link.after, link.after_why, link.after_auto
    reporter.step(f"resetting ({link.after})")
    try:
        reset_chip(esp, link.after)
    except ESPTOOL_ERRORS as exc:
        result.reset = f"not reset ({first_line(exc)}): {PRESS_RESET}"
        return
    if link.after in ("no-reset", "no-reset-stub"):
        where = "flasher stub" if link.after == "no-reset-stub" else "ROM bootloader"
        result.reset = f"not reset (after: {link.after}), it waits in the {where}: {PRESS_RESET}"
    elif link.after == "hard-reset" and not ports.has_reset_lines(esp._port):
        result.reset = (f"not reset: {port} carries no reset lines (socket:// or a pseudo-terminal); "
                        f"{PRESS_RESET}, or set `after: watchdog-reset` to reset it over the link")
    else:
        result.was_reset = True
        result.reset = "reset by the watchdog" if link.after == "watchdog-reset" else "reset (RTS)"
        if link.after_auto:  # chosen, not set: say which and why, in one short line
            how = "watchdog" if link.after == "watchdog-reset" else "hard (RTS)"
            result.reset = f"reset: {how} ({link.after_why})"
    reporter.step(result.reset, keep=not result.was_reset)
