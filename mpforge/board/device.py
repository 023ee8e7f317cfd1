"""One board through its ROM bootloader, with esptool's Python API (esptool>=5,<6).

connect -> fingerprint (chip, flash size and type, embedded PSRAM, MAC) ->
check against the profile -> erase / write -> hard reset. esptool does the
protocol and the fast paths (skip_flashed: MD5 of a region on the chip;
diff_with: only the sectors changed since the last image flashed to this chip);
mpforge keeps that last image per MAC under <workdir>/state/flashed/<mac>/.
esptool's own output goes to the board's Reporter, never to the terminal;
nothing here reads esptool's text, only its return values and FatalError.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import serial
from esp_pylib.logger import EspLogBase
from esptool.cmds import (attach_flash, detect_chip, detect_flash_size, erase_flash, reset_chip,
                          run_stub, write_flash)
from esptool import reset as esptool_reset
from esptool.logger import log as esptool_log
from esptool.util import FatalError, PrintOnce

from mpforge.board import ports
from mpforge import state
from mpforge import ui
from mpforge.errors import UserError
from mpforge.image import judge
from mpforge.image.firmware import Firmware
from mpforge.model.profiles import MB, Profile

BEFORE_MODES = ("default-reset", "usb-reset", "no-reset", "no-reset-no-sync")
AFTER_MODES = ("hard-reset", "soft-reset", "no-reset", "no-reset-stub", "watchdog-reset")
FALLBACK_BAUDS = (921600, 460800, 115200)
ROM_BAUD = 115200
# eFuse PSRAM capability of an ESP32-S3 -> (bytes, mode): R8/R16V parts are octal, R2/R4 quad.
_S3_PSRAM = {0: (0, "none"), 1: (8 * MB, "octal"), 2: (2 * MB, "quad"), 3: (16 * MB, "octal"),
             4: (4 * MB, "quad")}


# ---- settings for reaching boards -------------------------------------------------

@dataclass(frozen=True)
class Link:
    """How to reach boards: reset modes (CI peers have no reset lines: no-reset), baud."""

    before: str = "default-reset"
    after: str = "hard-reset"
    baud: int = 921600
    connect_attempts: int = 7

    @classmethod
    def from_settings(cls, settings, baud: int | None = None) -> "Link":
        extra = settings.extra

        def mode(key: str, default: str, allowed: tuple[str, ...]) -> str:
            value = str(extra.get(key) or default).replace("_", "-")
            if value not in allowed:
                raise UserError(f"settings: '{key}' is '{value}'; expected one of {', '.join(allowed)}")
            return value

        try:
            attempts = int(extra.get("connect_attempts") or 7)
            rate = int(baud or settings.baud)
        except (TypeError, ValueError):
            raise UserError("settings: 'baud' and 'connect_attempts' must be whole numbers") from None
        if rate < ROM_BAUD:
            raise UserError(f"baud {rate} is too slow; use {ROM_BAUD} or more")
        return cls(mode("before", "default-reset", BEFORE_MODES),
                   mode("after", "hard-reset", AFTER_MODES), rate, max(1, attempts))

    def bauds(self) -> list[int]:
        """The requested rate, then the slower fallbacks."""
        return [self.baud] + [b for b in FALLBACK_BAUDS if b < self.baud]


# ---- what a board reports ---------------------------------------------------------



@dataclass(frozen=True)
class Fingerprint:
    """What the chip says it is (eFuses and the flash chip's JEDEC id)."""

    chip: str  # esptool's name, e.g. "ESP32-S3"
    flash_size: int  # bytes, 0 if unknown
    flash_type: str  # quad | octal
    psram_size: int  # bytes of embedded PSRAM, 0 for none
    psram_mode: str  # none | quad | octal
    mac: str

    def hardware(self) -> str:
        flash = f"{ui.size_text(self.flash_size, space=False) if self.flash_size else 'unknown-size'} {self.flash_type} flash"
        psram = (f"{ui.size_text(self.psram_size, space=False)} {self.psram_mode} PSRAM" if self.psram_size
                 else "no PSRAM")
        return f"{flash}, {psram}"

    def describe(self) -> str:
        return f"{self.chip} {self.mac}, {self.hardware()}"


def fingerprint(esp) -> Fingerprint:
    size_text = detect_flash_size(esp)
    size = int(size_text[:-2]) * MB if size_text and size_text.endswith("MB") else 0
    octal = hasattr(esp, "flash_type") and esp.flash_type() == 1
    psram_size, psram_mode = 0, "none"
    if esp.CHIP_NAME == "ESP32-S3":
        psram_size, psram_mode = _S3_PSRAM.get(esp.get_psram_cap(), (0, "none"))
    mac = ":".join(f"{b:02x}" for b in esp.read_mac())
    return Fingerprint(esp.CHIP_NAME, size, "octal" if octal else "quad", psram_size, psram_mode, mac)


def check_board(fp: Fingerprint, profile: Profile, port: str, force: bool) -> None:
    """Refuse a board that does not match the profile (the judge's rules; a wrong chip even
    with --force)."""
    problems = judge.board_problems(fp, profile)
    if not judge.blocking(problems, force):
        return
    if problems[0].rule == "chip":
        raise UserError(f"the board on {port} is an {fp.chip}; profile {profile.name} is for an "
                        f"{problems[0].wanted}")
    needs_psram = (f"{ui.size_text(profile.psram_size, space=False)} {profile.psram_mode} PSRAM"
                   if profile.psram_size else "no PSRAM")
    raise UserError(
        f"the board on {port} does not match profile {profile.name} "
        f"({'; '.join(p.message for p in problems)}): found {fp.chip} with {fp.hardware()}; the "
        f"profile needs {profile.flash_size_label} {profile.flash_type} flash, {needs_psram} "
        f"(--force flashes anyway)")


def check_firmware(fw: Firmware, profile: Profile, force: bool = False) -> None:
    """Refuse, before any board is touched, a firmware the judge finds wrong for the profile
    (with --force, one built for another flash size is let through)."""
    problems = judge.blocking(judge.firmware_problems(fw, profile), force)
    overridable = " (or --force)" if all(p.forcible for p in problems) else ""
    judge.refuse(problems, suffix=f"; build it for profile {profile.name} "
                                  f"(`invoke build --profile {profile.name}`){overridable}")


# ---- esptool's output -> the board's reporter -------------------------------------

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

    def progress(self, done: int, total: int) -> None:
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


# ---- the last image flashed to each chip ------------------------------------------

class Flashed:
    """<state>/flashed/<mac>/: the regions last flashed to one chip, for diff_with.

    manifest.json says whether the last flash completed; a flash marks it
    incomplete before writing, so an interrupted one is noticed next time.
    """

    def __init__(self, state_dir: Path, mac: str):
        self.dir = state_dir / "flashed" / mac.replace(":", "-")
        self.manifest = self.dir / "manifest.json"

    def _read(self) -> dict | None:
        try:
            return json.loads(self.manifest.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def interrupted(self) -> bool:
        data = self._read()
        return data is not None and not data.get("complete", False)

    def known(self) -> dict[int, bytes]:
        """{offset: bytes} of a completed last flash; {} when unknown or interrupted."""
        data = self._read()
        if not data or not data.get("complete"):
            return {}
        regions = {}
        for offset, entry in data.get("regions", {}).items():
            path = self.dir / entry["file"]
            try:
                content = path.read_bytes()
            except FileNotFoundError:
                continue
            if hashlib.sha256(content).hexdigest() == entry["sha256"]:
                regions[int(offset, 0)] = content
        return regions

    def begin(self, what: str) -> None:
        data = self._read() or {}
        data.update(complete=False, started=what, at=time.strftime("%Y-%m-%dT%H:%M:%S"))
        state.atomic_write(self.manifest, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def done(self, regions: dict[int, bytes], source: str) -> None:
        entries = {}
        for offset, content in sorted(regions.items()):
            name = f"{offset:#x}.bin"
            state.atomic_write(self.dir / name, content)
            entries[hex(offset)] = {"file": name, "sha256": hashlib.sha256(content).hexdigest()}
        data = {"complete": True, "source": source, "regions": entries,
                "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        state.atomic_write(self.manifest, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def erased(self) -> None:
        """The chip is blank: nothing is known to be on it."""
        data = {"complete": True, "regions": {}, "source": "erased",
                "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        for path in self.dir.glob("0x*.bin"):
            path.unlink()
        state.atomic_write(self.manifest, json.dumps(data, indent=2, sort_keys=True) + "\n")


# ---- sessions ---------------------------------------------------------------------

@dataclass
class Result:
    """What happened on one board."""

    port: str
    ok: bool = False
    board: Fingerprint | None = None
    bytes_written: int = 0
    total_bytes: int = 0
    regions: list[str] = field(default_factory=list)  # e.g. "app 0x10000: 1 sector"
    baud: int = 0
    seconds: float = 0.0
    error: str = ""
    warnings: list[str] = field(default_factory=list)  # esptool's


class _WriteCounter:
    """Bytes esptool asks the chip to write (its API does not return them)."""

    def __init__(self):
        self.bytes = 0

    def attach(self, esp) -> None:
        for name in ("flash_begin", "flash_defl_begin"):
            original = getattr(esp, name)

            def counted(size, *args, _original=original, **kwargs):
                self.bytes += size
                return _original(size, *args, **kwargs)

            setattr(esp, name, counted)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _connect(port: str, link: Link):
    """Open the port and sync with the ROM bootloader; one-line errors for every failure."""
    ser = ports.open_port(port, ROM_BAUD)
    try:
        esp = detect_chip(ser, ROM_BAUD, link.before, False, link.connect_attempts)
    except (FatalError, serial.SerialException, OSError):
        ser.close()
        raise ports.no_bootloader_error(port) from None
    except BaseException:
        ser.close()
        raise
    return esp


def _session(port: str, link: Link, reporter: Reporter, result: Result, work):
    """Connect, start the stub, switch baud, attach flash, run `work(esp)`.

    Transfer errors retry the whole session at the next slower baud rate.
    """
    bauds = link.bauds()
    for attempt, baud in enumerate(bauds):
        reporter.step("connecting")
        esp = _connect(port, link)
        try:
            try:
                esp = run_stub(esp)
            except (FatalError, serial.SerialException, OSError) as exc:
                raise UserError(f"could not start the flasher stub on {port}: {_first_line(exc)}") from None
            try:
                if baud != ROM_BAUD:
                    esp.change_baud(baud)
                attach_flash(esp)
                result.baud = baud
                return work(esp)
            except (FatalError, serial.SerialException, OSError) as exc:
                if attempt == len(bauds) - 1:
                    raise UserError(f"{port}: lost the board at {baud} baud ({_first_line(exc)}); "
                                    "check the cable and run again (the next run finishes the "
                                    "job)") from None
                reporter.step(f"errors at {baud} baud ({_first_line(exc)}); "
                              f"retrying at {bauds[attempt + 1]}", keep=True)
        finally:
            with contextlib.suppress(Exception):
                esp._port.close()
    raise AssertionError("unreachable")


def _finish(esp, link: Link, reporter: Reporter) -> None:
    reporter.step(f"resetting ({link.after})")
    reset_chip(esp, link.after)
    reporter.step("done")


def erase(port: str, link: Link, state_dir: Path, reporter: Reporter) -> Result:
    """Erase a board's whole flash and forget what was on it."""
    result = Result(port)
    started = time.monotonic()

    def work(esp):
        result.board = fp = fingerprint(esp)
        reporter.found(fp)
        flashed = Flashed(state_dir, fp.mac)
        flashed.begin("erase")
        reporter.step("erasing")
        erase_flash(esp)
        flashed.erased()
        _finish(esp, link, reporter)

    with reporting_to(reporter):
        _session(port, link, reporter, result, work)
    result.ok, result.seconds = True, time.monotonic() - started
    return result


def flash(port: str, fw: Firmware, profile: Profile, link: Link, state_dir: Path,
          reporter: Reporter, *, force: bool = False, erase_first: bool = False) -> Result:
    """Write a firmware's images to a board, skipping what is already there."""
    result = Result(port)
    started = time.monotonic()
    images = [(image, image.path.read_bytes()) for image in fw.images]
    result.total_bytes = sum(len(data) for _, data in images)

    def work(esp):
        result.board = fp = fingerprint(esp)
        reporter.found(fp)
        check_board(fp, profile, port, force)
        judge.refuse(judge.placement_problems(fw, fp), prefix=f"{port}: ")
        flashed = Flashed(state_dir, fp.mac)
        if flashed.interrupted() and not erase_first:
            reporter.step("the last flash of this board did not finish; checking every region",
                          keep=True)
        known = {} if erase_first else flashed.known()
        flashed.begin(f"flash {fw.build_dir}")
        if erase_first:
            reporter.step("erasing")
            erase_flash(esp)
        counter = _WriteCounter()
        counter.attach(esp)
        result.regions = []
        for image, data in images:
            reporter.step(f"{image.role} {image.offset:#x}")
            before = counter.bytes
            options = {}
            if image.offset in known and known[image.offset] != data:
                options["diff_with"] = [known[image.offset]]  # only the changed sectors
            elif not erase_first:
                # MD5 on the chip: an identical region is not written again (for an image
                # equal to the last one, this is what diff_with would do, minus its diff)
                options["skip_flashed"] = True
            write_flash(esp, [(image.offset, data)], compress=True, **options)
            written = counter.bytes - before
            outcome = ("unchanged" if written == 0 else f"{written // 4096} sectors rewritten"
                       if written < len(data) else "written")
            result.regions.append(f"{image.role} {image.offset:#x}: {outcome}")
            reporter.step(f"{image.role} {image.offset:#x} {outcome}")
        result.bytes_written = counter.bytes
        flashed.done({image.offset: data for image, data in images}, str(fw.build_dir))
        _finish(esp, link, reporter)

    with reporting_to(reporter):
        _session(port, link, reporter, result, work)
    result.ok, result.seconds = True, time.monotonic() - started
    return result

