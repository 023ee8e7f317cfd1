"""Serial ports: finding ESP32-S3 boards, opening a port, telling why it failed.

A port is a device path or any pyserial URL (socket://, rfc2217://), so every
open goes through serial.serial_for_url.
"""

from __future__ import annotations

import errno
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import serial
from serial.tools import list_ports

from mpforge.errors import UserError
from mpforge.model import chips

# USB ids a board shows up with: the chip's own (its USB-Serial/JTAG and
# MicroPython's TinyUSB CDC, from the chip registry) and the USB-UART bridges
# dev boards carry on their "UART" connector.
_BRIDGES = """
    10C4:EA60 CP210x    1A86:7523 CH340     1A86:55D3 CH343        1A86:55D4 CH9102
    0403:6001 FTDI-FT232R  0403:6010 FTDI-FT2232  0403:6014 FTDI-FT232H  0403:6015 FTDI-FT-X
"""
KNOWN_USB = {
    **chips.usb_ids(),
    **{(int(ids[:4], 16), int(ids[5:], 16)): f"{name.replace('-', ' ', 1)} USB-UART bridge"
       for ids, name in zip(_BRIDGES.split()[::2], _BRIDGES.split()[1::2])},
}

# The USB path a port reaches the chip by (docs/detect.md): the chip's own
# USB-Serial/JTAG or USB-OTG CDC (from the chip registry), a USB-UART bridge on the
# board, or unknown (a URL, or ids nobody listed).
USB_PATHS = ("usb-serial-jtag", "usb-otg-cdc", "usb-uart-bridge", "unknown")


@dataclass(frozen=True)
class UsbPath:
    """How a serial port reaches the chip, read from its USB VID:PID."""

    path: str  # one of USB_PATHS
    name: str  # what to call it, e.g. "CP210x USB-UART bridge"
    vid: int | None = None
    pid: int | None = None

    def text(self) -> str:
        ids = f" ({self.vid:04X}:{self.pid:04X})" if self.vid is not None and self.pid is not None else ""
        return f"{self.name}{ids}"


def usb_path(vid: int | None, pid: int | None) -> UsbPath:
    """The USB path for a VID:PID (None, None: not a USB port)."""
    if vid is None or pid is None:
        return UsbPath("unknown", "not a USB port, or its USB id is not known")
    own = chips.usb_paths().get((vid, pid))
    if own:
        return UsbPath(own, KNOWN_USB[(vid, pid)], vid, pid)
    if (vid, pid) in KNOWN_USB:
        return UsbPath("usb-uart-bridge", KNOWN_USB[(vid, pid)], vid, pid)
    return UsbPath("unknown", "a USB device mpforge does not know", vid, pid)


def port_usb_path(port: str, comports=None) -> UsbPath:
    """The USB path of a port, from pyserial's port records; unknown for a URL."""
    if not _is_url(port):
        real = os.path.realpath(port)
        for info in list_ports.comports() if comports is None else comports:
            if info.device in (port, real):
                return usb_path(info.vid, info.pid)
    return usb_path(None, None)


PERMISSION_HINT = ("add your user to the dialout group (`sudo usermod -aG dialout $USER`, "
                   "then log out and in) or use a udev rule")


@dataclass(frozen=True)
class Candidate:
    """A serial port that may be an ESP32-S3 board."""

    device: str
    vid: int
    pid: int
    kind: str
    description: str


def candidates(comports=None) -> list[Candidate]:
    """Ports whose USB id is an ESP32-S3 or a common USB-UART bridge, sorted by device."""
    found = []
    for info in list_ports.comports() if comports is None else comports:
        kind = KNOWN_USB.get((info.vid, info.pid))
        if kind:
            found.append(Candidate(info.device, info.vid, info.pid, kind,
                                   info.description or info.product or "n/a"))
    return sorted(found, key=lambda c: c.device)


def choose(given, configured: str = "", comports=None) -> list[str]:
    """The ports to use: --port flags, else the configured port, else the one board found."""
    ports = [p for p in (given or []) if p]
    if ports:
        return list(dict.fromkeys(ports))  # a port named twice is flashed once
    if configured:
        return [configured]
    found = candidates(comports)
    if len(found) == 1:
        return [found[0].device]
    if not found:
        raise UserError("no ESP32-S3 board found on USB (looked for Espressif 303A:1001/4001 "
                        "and CP210x/CH34x/FTDI bridges); connect one or pass --port")
    names = ", ".join(c.device for c in found)
    raise UserError(f"{len(found)} possible boards found ({names}); pass --port "
                    "(repeat it to flash several), `invoke ports` lists them")


def _holders(device: str) -> list[str]:
    """'name (pid N)' of the processes that have a device open (Linux /proc), best effort."""
    try:
        target = os.path.realpath(device)
    except OSError:
        return []
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        if int(proc.name) == os.getpid():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.path.realpath(fd) == target:
                    name = (proc / "comm").read_text().strip()
                    found.append(f"{name} (pid {proc.name})")
                    break
        except OSError:
            continue
    return found


def _is_url(port: str) -> bool:
    return "://" in port


def open_port(port: str, baud: int = 115200, timeout: float = 0.1) -> serial.SerialBase:
    """Open a port exclusively; missing, busy and permission problems become one-line errors."""
    try:
        ser = serial.serial_for_url(port, baudrate=baud, timeout=timeout, exclusive=True,
                                    do_not_open=True)
    except (ValueError, serial.SerialException) as exc:  # e.g. an unknown URL scheme
        raise UserError(f"port {port}: {exc}") from None
    ser.dtr = False  # opening must not reset the board (DTR/RTS drive EN and BOOT)
    ser.rts = False
    try:
        ser.open()
    except (serial.SerialException, OSError) as exc:
        raise port_error(port, exc) from None
    return ser


def port_error(port: str, exc: BaseException) -> UserError:
    """The one-line error for a port that failed to open."""
    code = getattr(exc, "errno", None)
    text = str(exc)
    if isinstance(exc, ValueError):  # pyserial: an unknown URL scheme
        return UserError(f"'{port}' is not a serial port or pyserial URL "
                         "(use a device path, socket://host:port or rfc2217://host:port)")
    if _is_url(port):
        if code == errno.ECONNREFUSED or "refused" in text.lower():
            return UserError(f"port {port}: nothing is listening there (connection refused); "
                             "check the host and port")
        return UserError(f"port {port}: could not connect: {text}")
    if code in (errno.EACCES, errno.EPERM):
        return UserError(f"no permission to open {port}; {PERMISSION_HINT}")
    if code == errno.ENOENT or not os.path.exists(port):
        return UserError(f"port {port} not found; is the board plugged in? "
                         "`invoke ports` lists the boards connected")
    if code in (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK) or "lock" in text.lower():
        holders = _holders(port)
        who = f"held by {', '.join(holders)}" if holders else "held by another program"
        return UserError(f"port {port} is busy ({who}); close that program (serial monitor, "
                         "mpremote, IDE) and run again")
    return UserError(f"could not open {port}: {text}")


# What an ESP chip's ROM prints on reset; seen over and over, the board is in a boot loop.
_ROM_MARKERS = (b"ESP-ROM:", b"rst:0x", b"invalid header", b"boot:0x")
# The ROM's download-mode lines, every variant (docs/flashing.md): "waiting for download"
# (USB or UART download strap), "wait uart0 download" (UART-only strap), and the boot-mode
# line "boot:0x.. (DOWNLOAD(USB/UART0))" that precedes them.
_DOWNLOAD = re.compile(rb"wait(ing)?( for| uart\d| usb)? download|\(DOWNLOAD\(", re.IGNORECASE)


def in_download_mode(seen: bytes) -> bool:
    """Whether a board's output says its ROM waits in download mode."""
    return _DOWNLOAD.search(seen) is not None


def has_reset_lines(ser) -> bool:
    """Whether DTR/RTS can reach the board: a serial device or rfc2217://; not socket:// or a PTY."""
    name = str(getattr(ser, "portstr", None) or getattr(ser, "port", "") or "")
    if name.startswith("rfc2217://"):
        return True
    if _is_url(name):
        return False
    try:
        import fcntl
        import struct
        import termios
    except ImportError:  # Windows: a COM port has the lines
        return True
    try:
        fcntl.ioctl(ser.fileno(), termios.TIOCMGET, struct.pack("I", 0))
    except (OSError, AttributeError, ValueError):
        return False  # e.g. ENOTTY: a pseudo-terminal has no modem lines
    return True


def probe(port: str, seconds: float = 0.6) -> bytes:
    """What a port sends on its own for a moment (the board is not reset), b'' if nothing."""
    try:
        ser = open_port(port)
    except UserError:
        return b""
    data = b""
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end and len(data) < 4096:
            data += ser.read(512)
    except (serial.SerialException, OSError):
        pass
    finally:
        ser.close()
    return data


def no_bootloader_error(port: str) -> UserError:
    """Why no ESP bootloader answered on a port that opened: a boot loop, or not a board."""
    seen = probe(port)
    if any(marker in seen for marker in _ROM_MARKERS) and not in_download_mode(seen):
        lines = [line.strip() for line in seen.splitlines()]
        sample = next((line for line in lines if b"invalid header" in line),
                      next((line for line in lines if b"rst:" in line), b""))
        return UserError(f"the board on {port} is in a boot loop ('{sample.decode(errors='replace')}')"
                         " and does not enter download mode; hold BOOT, press RESET, release "
                         "BOOT, then run again")
    return UserError(f"no ESP32 bootloader answered on {port}; is a board connected there? "
                     "(hold BOOT and press RESET to put it in download mode)")
