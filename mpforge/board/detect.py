"""`invoke detect`: what a board is, read through its ROM bootloader (so it works with any
firmware or none), and which profiles fit it. docs/detect.md says where each fact is read
from; nothing here guesses a fact that could not be read: the result says so instead.

The facts: the chip and its revision (eFuses, as esptool reads them), the MAC, the flash
chip's JEDEC id and the size its capacity byte says (when esptool knows that byte), octal
or quad flash (an eFuse bit), the embedded PSRAM (the PSRAM capability eFuse, looked up
in the chip registry), the USB path of the port (its VID:PID), and every profile in
boards/ held against the board (mpforge.model.fit).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from mpforge.board import policy, ports, transport
from mpforge.errors import UserError
from mpforge.model import chips, fit, profiles
from mpforge.model.fingerprint import Fingerprint
from mpforge.text import size_text



@dataclass(frozen=True)
class Running:
    """What a running MicroPython said about itself over its REPL, before the reset into the
    bootloader (scripts/board_probe.py's report; docs/detect.md, "The running firmware")."""

    release: str  # e.g. "v1.24.1", from os.uname().version
    machine: str  # os.uname().machine: "<MICROPY_HW_BOARD_NAME> with <MCU>"
    build: str | None  # sys.implementation._build, "BOARD-VARIANT" (v1.25 on; None before)
    flash_size: int | None  # esp.flash_size(): the image's size up to v1.25, the chip's from v1.26
    flash_end: int | None  # where the furthest partition ends: the flash the image uses
    psram_heap: int | None  # bytes of PSRAM in the heap (0: the image does not use PSRAM)

    @classmethod
    def from_probe(cls, probe: dict) -> "Running":
        words = str(probe.get("uname_version") or "").split()
        release = words[0] if words and words[0].startswith("v") else f"v{probe.get('version')}"
        parts = probe.get("partitions") or {}
        spans = [p for p in [parts.get("running"), *(parts.get("apps") or []), parts.get("fs")] if p]
        end = max((int(p[2]) + int(p[3]) for p in spans), default=None)
        return cls(release, str(probe.get("machine") or ""), probe.get("build"), probe.get("flash_size"),
                   end, probe.get("psram_heap"))

    def name(self) -> str:
        """The image, as it names itself: BOARD-VARIANT, else the board name."""
        return self.build or self.machine.rsplit(" with ", 1)[0] or "unknown image"  # "<board> with <MCU>"


@dataclass
class Board:
    """What one board said about itself (a failed port: ok False and the error)."""

    port: str
    ok: bool = False
    error: str = ""
    usb: ports.UsbPath | None = None  # from the port's VID:PID (docs/detect.md, "USB paths")
    chip: str = ""  # esptool's name, e.g. "ESP32-S3"
    chip_key: str | None = None  # the chip registry's key, None: not a chip mpforge builds for
    description: str = ""  # esptool's get_chip_description(), e.g. "ESP32-S3 (QFN56) (revision v0.2)"
    revision: str = ""  # e.g. "v0.2", from get_chip_revision() (major * 100 + minor)
    mac: str = ""
    flash_id: int | None = None  # the 24-bit JEDEC id: manufacturer, type, capacity (bytes 1..3)
    flash_size: int = 0  # bytes, from the capacity byte; 0: esptool does not know that byte
    flash_type: str | None = None  # quad | octal (eFuse bit); None: this chip has no such bit
    psram_efuse: int | None = None  # the PSRAM capability eFuse; None: the registry has no field for the chip
    psram_size: int = 0  # embedded PSRAM in bytes (the registry's meaning of psram_efuse)
    psram_mode: str = "none"  # none | quad | octal
    psram_vendor: str = ""  # esptool's get_psram_vendor() where the chip has one, e.g. "AP_1v8"
    fits: list[fit.Fit] = field(default_factory=list)  # every profile, the fits first
    broken_profiles: list[str] = field(default_factory=list)  # profiles in boards/ that did not load
    running: Running | None = None  # with --repl: what the firmware said before the reset
    running_note: str = ""  # with --repl and no answer: why not
    # what transport.session records, and the port's log
    baud: int = 0
    reset: str = ""
    was_reset: bool = False
    log: Path | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def board(self) -> Fingerprint | None:
        return self.fingerprint() if self.ok else None

    @property
    def flash_capacity_byte(self) -> int | None:
        """JEDEC id byte 3: the capacity, 2**n bytes for the usual 0x15..0x19 (docs/detect.md)."""
        return None if self.flash_id is None else (self.flash_id >> 16) & 0xFF

    @property
    def flash_known(self) -> bool:
        return bool(self.flash_size)

    @property
    def psram_known(self) -> bool:
        """Whether the PSRAM eFuse value means something the chip registry knows."""
        chip = chips.get(self.chip_key) if self.chip_key else None
        return chip is not None and self.psram_efuse is not None and self.psram_efuse in chip.psram_efuse

    def fingerprint(self) -> Fingerprint:
        """The facts as mpforge's other board code reads them (unknowns: 0 / quad / none)."""
        return Fingerprint(self.chip, self.flash_size, self.flash_type or "quad",
                           self.psram_size, self.psram_mode, self.mac)

    @property
    def fitting(self) -> list[fit.Fit]:
        return [f for f in self.fits if f.fits]

    def as_dict(self) -> dict:
        if not self.ok:
            return {"ok": False, "port": self.port, "error": self.error, "firmware": self.firmware_dict(),
                    "log": str(self.log)}
        usb = self.usb or ports.usb_path(None, None)
        return {
            "ok": True, "port": self.port,
            "chip": {"name": self.chip, "ours": self.chip_key is not None, "description": self.description,
                     "revision": self.revision},
            "mac": self.mac,
            "flash": {"jedec_id": f"{self.flash_id:06x}" if self.flash_id is not None else None,
                      "capacity_byte": self.flash_capacity_byte, "known": self.flash_known,
                      "size": self.flash_size or None, "type": self.flash_type},
            "psram": {"efuse": self.psram_efuse, "known": self.psram_known,
                      "size": self.psram_size if self.psram_known else None,
                      "mode": self.psram_mode if self.psram_known else None, "vendor": self.psram_vendor or None},
            "usb": {"path": usb.path, "name": usb.name,
                    "vid": f"{usb.vid:04x}" if usb.vid is not None else None,
                    "pid": f"{usb.pid:04x}" if usb.pid is not None else None},
            "profiles": [{"profile": f.profile.name, "fits": f.fits, "own_layout": f.chosen_layout,
                          "reasons": list(f.reasons), "differences": list(f.differences)} for f in self.fits],
            "fitting": [f.profile.name for f in self.fitting],
            "broken_profiles": self.broken_profiles,
            "firmware": self.firmware_dict(),
            "reset": self.reset, "log": str(self.log),
        }

    def usage(self) -> tuple[str, bool] | None:
        """How much of the board the running image uses, and whether that is all of it
        (e.g. "v1.24.1 ESP32_GENERIC_S3: 8 MB flash of 16 MB used, PSRAM not used")."""
        r = self.running
        if r is None:
            return None
        used = r.flash_end or r.flash_size
        parts, full = [], True
        if used and self.flash_size:
            parts.append(f"{size_text(used)} flash of {size_text(self.flash_size)} used")
            full = used >= self.flash_size
        elif used:
            parts.append(f"{size_text(used)} flash used (the board's size is not known)")
        if r.psram_heap is None:
            parts.append("PSRAM use not read")
        elif r.psram_heap:
            parts.append(f"PSRAM used ({size_text(r.psram_heap)} heap)")
        elif self.psram_size or not self.psram_known:
            parts.append("PSRAM not used")
            full = full and not self.psram_size
        return f"{r.release} {r.name()}: {', '.join(parts)}", full

    def firmware_dict(self) -> dict | None:
        if self.running is None:
            return {"read": False, "why": self.running_note} if self.running_note else None
        text, full = self.usage()
        return {"read": True, **dataclasses.asdict(self.running), "uses_the_board_fully": full, "summary": text}


def read(esp, board: Board) -> None:
    """Fill `board` with the facts the chip gives (docs/detect.md, "What is read"): the
    fingerprint every board task reads (policy.fingerprint), then what only detect shows."""
    fp = policy.fingerprint(esp)
    board.chip, board.mac, board.flash_size = fp.chip, fp.mac, fp.flash_size
    board.psram_efuse, board.psram_size, board.psram_mode = fp.psram_efuse, fp.psram_size, fp.psram_mode
    # the eFuse bit of chips with octal flash parts; a chip without it: not said
    board.flash_type = fp.flash_type if hasattr(esp, "flash_type") else None
    chip = chips.by_name(fp.chip)
    board.chip_key = chip.key if chip else None
    board.description = esp.get_chip_description()
    rev = esp.get_chip_revision()
    board.revision = f"v{rev // 100}.{rev % 100}"
    board.flash_id = esp.flash_id()
    if hasattr(esp, "get_psram_vendor"):
        board.psram_vendor = esp.get_psram_vendor()


def hold(board: Board, candidates: list[profiles.Profile]) -> list[fit.Fit]:
    """Every profile against the board (fit.rank). With a PSRAM eFuse value the registry does
    not know, the PSRAM cannot be said, so nothing fits: each profile is held with its own
    PSRAM taken as read, and the unknown value is one more difference (docs/detect.md,
    "Choosing a profile")."""
    fp = board.fingerprint()
    if board.chip_key is None or board.psram_known or board.psram_efuse is None:
        return fit.rank(fp, candidates)
    unknown = f"the board's PSRAM eFuse value {board.psram_efuse} is not one mpforge knows"
    held = []
    for p in candidates:
        as_read = dataclasses.replace(fp, psram_size=0 if p.psram_external else p.psram_size,
                                      psram_mode="none" if p.psram_external else p.psram_mode)
        one = fit.hold(as_read, p)
        held.append(one if not one.reasons else fit.Fit(p, one.reasons, (*one.differences, unknown)))
    return sorted(held, key=fit.closeness)


def running_firmware(port: str, timeout: float, reporter=None) -> tuple[Running | None, str]:
    """Ask a running MicroPython on the port what it is (the verify probe, in the raw REPL, no
    soft reset); (None, why) when no REPL answers."""
    from mpforge.board import repl

    try:
        return Running.from_probe(repl.probe_board(port, timeout=timeout, reporter=reporter)), ""
    except UserError as exc:
        return None, exc.message


def detect(port: str, link: transport.Link, reporter, candidates: list[profiles.Profile],
           broken: list[str] = (), repl_timeout: float | None = None) -> Board:
    """One board: with repl_timeout, first what its running MicroPython says (before any
    reset); then connect through the ROM bootloader, read it, reset it (link.after)."""
    board = Board(port, usb=ports.port_usb_path(port), broken_profiles=list(broken))
    if repl_timeout is not None:
        reporter.step("asking the running firmware over the REPL")
        board.running, board.running_note = running_firmware(port, repl_timeout, reporter)
    try:
        with transport.reporting_to(reporter):
            transport.session(port, link, reporter, board, lambda esp, done: read(esp, board), stub=False)
    except UserError as exc:
        if board.running is None:
            raise
        board.error = str(exc)  # what the firmware said is still worth showing
        reporter.status(f"FAILED: {exc}", style="red")
        return board
    board.ok = True
    board.fits = hold(board, candidates)
    reporter.found(board.fingerprint())
    fitting = board.fitting
    reporter.status(f"fits {', '.join(f.profile.name for f in fitting)}" if fitting else "no profile fits",
                    style="green" if fitting else "yellow")
    return board


def failed(port: str, reporter, error: str) -> Board:
    return Board(port, ok=False, error=error)
