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
from esptool.cmds import (attach_flash, detect_chip, detect_flash_size, erase_flash, read_flash,
                          reset_chip, run_stub, write_flash)
from esptool import reset as esptool_reset
from esptool.logger import log as esptool_log
from esptool.util import FatalError, PrintOnce

from mpforge.board import filesystem, ports
from mpforge import state
from mpforge import ui
from mpforge.errors import UserError
from mpforge.image import judge, partitions
from mpforge.image.firmware import Firmware
from mpforge.model import chips
from mpforge.model.profiles import MB, Profile
from mpforge.model.settings import DEFAULT_READ_TIMEOUT, ROM_BAUD, check_baud

FALLBACK_BAUDS = (921600, 460800, 115200)


# ---- settings for reaching boards -------------------------------------------------

@dataclass(frozen=True)
class Link:
    """How to reach boards: reset modes (CI peers have no reset lines: no-reset), baud."""

    before: str = "default-reset"
    after: str = "hard-reset"
    baud: int = 921600
    connect_attempts: int = 7
    read_timeout: float = DEFAULT_READ_TIMEOUT

    @classmethod
    def from_settings(cls, settings, baud: int | None = None, chip: str | None = None) -> "Link":
        """The settings' link (parsed and checked in model/settings); `baud` (the --baud flag)
        over the setting; the reset after, checked against what esptool can do with `chip`."""
        target = chips.get(chip) if chip else chips.default()
        if target.after_modes and settings.after not in target.after_modes:
            raise UserError(f"settings: 'after' is '{settings.after}', which esptool cannot do on an "
                            f"{target.name}; use one of {', '.join(target.after_modes)}")
        return cls(settings.before, settings.after, check_baud(baud or settings.baud), settings.connect_attempts,
                   settings.read_timeout)

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
    chip = chips.by_name(esp.CHIP_NAME)
    if chip is not None and chip.psram_efuse:  # the registry says how its PSRAM eFuse reads
        psram_size, psram_mode = chip.psram(esp.get_psram_cap())
    mac = ":".join(f"{b:02x}" for b in esp.read_mac())
    return Fingerprint(esp.CHIP_NAME, size, "octal" if octal else "quad", psram_size, psram_mode, mac)


def check_board(fp: Fingerprint, profile: Profile, port: str, force: bool,
                reporter: "Reporter | None" = None) -> None:
    """Refuse a board that does not match the profile (the judge's rules; a wrong chip even
    with --force). PSRAM in a separate chip (psram.external) is left to verify."""
    problems = judge.board_problems(fp, profile)
    if profile.psram_external and reporter is not None and not any(p.rule == "chip" for p in problems):
        reporter.step("PSRAM is a separate chip (psram.external), not in the eFuses: "
                      "`invoke verify` proves it", keep=True)
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
    reset: str = ""  # what became of the board after the job, and what to do
    was_reset: bool = False
    files: str = ""  # what became of the files on the board ("" when not looked at)
    backup: Path | None = None  # where they were saved, when they were


@dataclass
class _Done:
    """What a job did on the board; a retry after a link error does not do it again."""

    erase_started: bool = False
    files: "_FilesPlan | None" = None


@dataclass
class _FilesPlan:
    note: str  # for the report
    restore: list[tuple[int, bytes]] = field(default_factory=list)  # (flash offset, blocks)
    backup: Path | None = None


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


# esptool's words for a link that lost bytes or went quiet (loader.py). Anything else it
# raises is a refusal (an unsupported option, a wrong argument): a slower baud cannot fix it.
_LINK_WORDS = ("timed out", "timeout", "packet", "serial", "corrupt", "stopped", "disconnected",
               "no response")
_ESPTOOL_ERRORS = (FatalError, serial.SerialException, OSError)


def link_trouble(exc: BaseException) -> bool:
    """Whether an error is the link's (worth a retry at a lower baud), not a refusal."""
    if isinstance(exc, (serial.SerialException, OSError)):
        return True
    return isinstance(exc, FatalError) and any(w in str(exc).lower() for w in _LINK_WORDS)


def _connect(port: str, link: Link):
    """Open the port and sync with the ROM bootloader; one-line errors for every failure."""
    ser = ports.open_port(port, ROM_BAUD, timeout=link.read_timeout)
    try:
        esp = detect_chip(ser, ROM_BAUD, link.before, False, link.connect_attempts)
    except _ESPTOOL_ERRORS:
        ser.close()
        raise ports.no_bootloader_error(port) from None
    except BaseException:
        ser.close()
        raise
    return esp


def _session(port: str, link: Link, reporter: Reporter, result: Result, work):
    """Connect, start the stub, switch baud, attach flash, run `work(esp, done)`, reset.

    A link error (lost bytes, a timeout) retries the session at the next slower
    baud rate; `done` tells the retry what not to repeat. A refusal ends the job.
    """
    bauds = link.bauds()
    done = _Done()
    for attempt, baud in enumerate(bauds):
        reporter.step("connecting")
        esp = _connect(port, link)
        try:
            try:
                esp = run_stub(esp)
            except _ESPTOOL_ERRORS as exc:
                raise UserError(f"could not start the flasher stub on {port}: {_first_line(exc)} "
                                f"(waited {link.read_timeout:g} s; raise the `read_timeout` setting "
                                "for a slow link)") from None
            # esptool's own reconnect after a lost link stays at the same session, unseen:
            # mpforge retries itself, one baud rate lower, knowing what not to repeat
            esp.WRITE_FLASH_ATTEMPTS = 1
            try:
                if baud != ROM_BAUD:
                    esp.change_baud(baud)
                attach_flash(esp)
                result.baud = baud
                value = work(esp, done)
            except _ESPTOOL_ERRORS as exc:
                if not link_trouble(exc):
                    raise UserError(f"{port}: esptool refused: {_first_line(exc)}") from None
                if attempt == len(bauds) - 1:
                    raise UserError(f"{port}: lost the board at {baud} baud ({_first_line(exc)}); "
                                    "check the cable and run again (the next run finishes the "
                                    "job)") from None
                reporter.step(f"errors at {baud} baud ({_first_line(exc)}); "
                              f"retrying at {bauds[attempt + 1]}", keep=True)
                continue
            _reset(esp, port, link, reporter, result)
            return value
        finally:
            with contextlib.suppress(Exception):
                esp._port.close()
    raise AssertionError("unreachable")


_PRESS_RESET = "press the board's RESET button (before `invoke verify`)"


def _reset(esp, port: str, link: Link, reporter: Reporter, result: Result) -> None:
    """Reset the board as `after` says, and record whether that really happened."""
    reporter.step(f"resetting ({link.after})")
    try:
        reset_chip(esp, link.after)
    except _ESPTOOL_ERRORS as exc:
        result.reset = f"not reset ({_first_line(exc)}): {_PRESS_RESET}"
        return
    if link.after in ("no-reset", "no-reset-stub"):
        where = "flasher stub" if link.after == "no-reset-stub" else "ROM bootloader"
        result.reset = f"not reset (after: {link.after}), it waits in the {where}: {_PRESS_RESET}"
    elif link.after == "hard-reset" and not ports.has_reset_lines(esp._port):
        result.reset = (f"not reset: {port} carries no reset lines (socket:// or a pseudo-terminal); "
                        f"{_PRESS_RESET}, or set `after: watchdog-reset` to reset it over the link")
    else:
        result.was_reset = True
        result.reset = "reset by the watchdog" if link.after == "watchdog-reset" else "reset (RTS)"
    reporter.step(result.reset, keep=not result.was_reset)


def _read(esp):
    """read_block(offset, size) -> bytes from the chip's flash."""
    return lambda offset, size: read_flash(esp, offset, size, output=None, no_progress=True)


def board_filesystem(esp, flash_size: int) -> partitions.Partition | None:
    """Where the board's filesystem is: its partition table's vfs/ffat, or the vfs a v1.26+
    firmware creates at boot; None without a table or room for one."""
    try:
        table = partitions.parse(_read(esp)(partitions.TABLE_OFFSET, partitions.MAX_SIZE))
    except ValueError:  # blank or not a table: nothing to keep
        return None
    return partitions.filesystem_region(table, flash_size, auto_vfs=True)


def _region_text(region: partitions.Partition | None) -> str:
    if region is None:
        return "none"
    return f"{region.offset:#x}+{ui.size_text(region.size, space=False)}"


def _plan_files(esp, fp: Fingerprint, port: str, new_table: bytes, flash_size: int,
                auto_vfs: bool, workdir: Path, discard: bool, reporter: Reporter) -> _FilesPlan:
    """Before anything is written: keep the board's files where they are, or back them up
    and prepare them for the new layout, or refuse (docs/filesystem.md)."""
    try:
        new = partitions.filesystem_region(partitions.parse(new_table), flash_size, auto_vfs)
    except ValueError:
        new = None
    reporter.step("reading the partition table on the board")
    old = board_filesystem(esp, flash_size)
    if old is None:
        return _FilesPlan("")
    if partitions.same_region(old, new):
        return _FilesPlan(f"kept: the filesystem at {_region_text(old)} stays where the new "
                          "firmware looks for it")
    layout = f"the filesystem moves from {_region_text(old)} to {_region_text(new)}"
    snapshot = None
    if not discard:
        reporter.step(f"{layout}: reading the board's files", keep=True)
        try:
            snapshot = filesystem.read(_read(esp), old)
        except filesystem.FilesystemError as exc:
            how = ("copy its files with `mpremote cp -r : ./board-files/` while the old firmware "
                   "runs" if exc.kind == "fat" else "nothing can copy its files")
            raise UserError(f"{port}: {layout} and {exc}: {how}, then flash with --discard-files "
                            "(or --erase)") from None
    snapshot = snapshot or filesystem.Snapshot()
    if new is None:
        if snapshot.files:
            raise UserError(f"{port}: the new firmware has no filesystem, and the board's holds "
                            f"{snapshot.describe()}; `invoke backup` saves them, then flash with "
                            "--discard-files")
        return _FilesPlan("none: the new firmware has no filesystem")
    backup = None
    if snapshot.files:
        backup = filesystem.save(snapshot, workdir, fp.mac, old, f"flash: {layout}")
    try:
        runs = filesystem.image(snapshot, new.size)
    except filesystem.FilesystemError as exc:
        raise UserError(f"{port}: {exc}; they are saved in {backup}") from None
    if discard:
        note = f"discarded (--discard-files): an empty filesystem at {_region_text(new)}"
    elif snapshot.files:
        note = (f"{snapshot.describe()} backed up to {backup} and put back into the new "
                f"filesystem at {_region_text(new)}")
    else:
        note = f"none to keep; an empty filesystem at {_region_text(new)}"
    return _FilesPlan(note, [(new.offset + offset, data) for offset, data in runs], backup)


def erase(port: str, link: Link, state_dir: Path, reporter: Reporter) -> Result:
    """Erase a board's whole flash and forget what was on it."""
    result = Result(port)
    started = time.monotonic()

    def work(esp, done):
        result.board = fp = fingerprint(esp)
        reporter.found(fp)
        if done.erase_started:  # never twice: the first may have run to the end
            raise UserError(f"{port}: the link failed during the erase, the flash may be partly "
                            "erased; run `invoke erase` again")
        flashed = Flashed(state_dir, fp.mac)
        flashed.begin("erase")
        reporter.step("erasing")
        done.erase_started = True
        erase_flash(esp)
        flashed.erased()

    with reporting_to(reporter):
        _session(port, link, reporter, result, work)
    result.ok, result.seconds = True, time.monotonic() - started
    return result


def flash(port: str, fw: Firmware, profile: Profile, link: Link, state_dir: Path,
          reporter: Reporter, *, force: bool = False, erase_first: bool = False,
          discard_files: bool = False, auto_vfs: bool = True, workdir: Path | None = None) -> Result:
    """Write a firmware's images to a board, skipping what is already there, keeping the
    board's files (auto_vfs: the firmware creates its vfs at boot when its table has none)."""
    result = Result(port)
    started = time.monotonic()
    images = [(image, image.path.read_bytes()) for image in fw.images]
    result.total_bytes = sum(len(data) for _, data in images)
    table = next((data for image, data in images if image.role == "partition-table"), b"")
    workdir = workdir or state_dir.parent

    def work(esp, done):
        result.board = fp = fingerprint(esp)
        reporter.found(fp)
        check_board(fp, profile, port, force, reporter)
        judge.refuse(judge.placement_problems(fw, fp), prefix=f"{port}: ")
        if done.files is None:  # once, before anything is written
            if erase_first:
                done.files = _FilesPlan("erased with the whole flash (--erase)")
            elif not table:  # the board's own table stays, and with it the filesystem
                done.files = _FilesPlan("kept: the firmware brings no partition table")
            else:
                done.files = _plan_files(esp, fp, port, table, fp.flash_size or profile.flash_size,
                                         auto_vfs, workdir, discard_files, reporter)
        result.files, result.backup = done.files.note, done.files.backup
        flashed = Flashed(state_dir, fp.mac)
        if flashed.interrupted() and not erase_first:
            reporter.step("the last flash of this board did not finish; checking every region",
                          keep=True)
        known = {} if erase_first else flashed.known()
        flashed.begin(f"flash {fw.build_dir}")
        if erase_first and not done.erase_started:
            reporter.step("erasing")
            done.erase_started = True
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
            else:
                # MD5 on the chip: an identical region is not written again (for an image
                # equal to the last one, this is what diff_with would do, minus its diff)
                options["skip_flashed"] = True
            write_flash(esp, [(image.offset, data)], compress=True, **options)
            written = counter.bytes - before
            outcome = ("unchanged" if written == 0 else f"{written // 4096} sectors rewritten"
                       if written < len(data) else "written")
            result.regions.append(f"{image.role} {image.offset:#x}: {outcome}")
            reporter.step(f"{image.role} {image.offset:#x} {outcome}")
        if done.files.restore:
            reporter.step("writing the filesystem")
            write_flash(esp, done.files.restore, compress=True, skip_flashed=True)
        result.bytes_written = counter.bytes
        flashed.done({image.offset: data for image, data in images}, str(fw.build_dir))

    with reporting_to(reporter):
        _session(port, link, reporter, result, work)
    result.ok, result.seconds = True, time.monotonic() - started
    return result


# ---- the board's files on demand ----------------------------------------------------

def backup(port: str, link: Link, workdir: Path, reporter: Reporter) -> Result:
    """Copy the files on a board's filesystem into <workdir>/backups/<mac>/<time stamp>/."""
    result = Result(port)
    started = time.monotonic()

    def work(esp, done):
        result.board = fp = fingerprint(esp)
        reporter.found(fp)
        region = board_filesystem(esp, fp.flash_size)
        if region is None:
            raise UserError(f"{port}: the board has no filesystem (no partition table at "
                            f"{partitions.TABLE_OFFSET:#x}, or no room left for one)")
        reporter.step(f"reading the filesystem at {_region_text(region)}")
        try:
            snapshot = filesystem.read(_read(esp), region)
        except filesystem.FilesystemError as exc:
            raise UserError(f"{port}: {exc}") from None
        if snapshot is None or not snapshot.files:
            result.files = f"no files to back up in the filesystem at {_region_text(region)}"
            return
        result.backup = filesystem.save(snapshot, workdir, fp.mac, region, "invoke backup")
        result.files = f"{snapshot.describe()} saved to {result.backup}"

    with reporting_to(reporter):
        _session(port, link, reporter, result, work)
    result.ok, result.seconds = True, time.monotonic() - started
    return result


def restore(port: str, link: Link, workdir: Path, reporter: Reporter, *,
            source: Path | None = None, discard_files: bool = False) -> Result:
    """Write a backup's files as the board's whole filesystem (the board's current files
    are backed up first)."""
    result = Result(port)
    started = time.monotonic()

    def work(esp, done):
        result.board = fp = fingerprint(esp)
        reporter.found(fp)
        folder = source or filesystem.latest(workdir, fp.mac)
        if folder is None:
            raise UserError(f"{port}: no backup of board {fp.mac} in "
                            f"{filesystem.backups_dir(workdir, fp.mac)}; pass --backup FOLDER")
        try:
            wanted = filesystem.load(folder)
        except filesystem.FilesystemError as exc:
            raise UserError(str(exc)) from None
        if done.files is None:
            region = board_filesystem(esp, fp.flash_size)
            if region is None:
                raise UserError(f"{port}: the board has no filesystem (no partition table at "
                                f"{partitions.TABLE_OFFSET:#x}, or no room left for one)")
            reporter.step(f"reading the filesystem at {_region_text(region)}")
            try:
                current = filesystem.read(_read(esp), region)
            except filesystem.FilesystemError as exc:
                if not discard_files:
                    raise UserError(f"{port}: {exc}; restore over it with --discard-files") from None
                current = None
            safety = None
            if current is not None and current.files:
                safety = filesystem.save(current, workdir, fp.mac, region, "before invoke restore")
            try:
                runs = filesystem.image(wanted, region.size)
            except filesystem.FilesystemError as exc:
                raise UserError(f"{port}: {exc}") from None
            note = f"{wanted.describe()} from {folder} written to the filesystem at {_region_text(region)}"
            if safety:
                note += f" (the files it held are saved in {safety})"
            done.files = _FilesPlan(note, [(region.offset + o, d) for o, d in runs], safety)
        reporter.step("writing the filesystem")
        write_flash(esp, done.files.restore, compress=True, skip_flashed=True)
        result.files, result.backup = done.files.note, done.files.backup

    with reporting_to(reporter):
        _session(port, link, reporter, result, work)
    result.ok, result.seconds = True, time.monotonic() - started
    return result
