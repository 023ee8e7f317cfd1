"""In-process ESP32 ROM/stub peers for the real esptool, on esp32_mock_bootloader (==0.3.0).

`MockBoard` serves the ROM bootloader and flasher-stub protocol of
`esp32_mock_bootloader.server.handle_client` on `socket://127.0.0.1:N` (one
session per connection) or, with ``pty=True``, on a real ``/dev/pts/N`` path.
The test owns the flash: ``board.flash.data`` is the chip's flash, and
``board.flash.bytes_written`` counts what was written to it, ``bytes_received`` the
bytes of the write blocks as they came over the link (compressed).

What this wrapper changes in the pinned mock, and why (module globals and one
subclass; the mock reads them at call time):

1. READ_FLASH: the mock gives up waiting for esptool's ack after 50 ms, while
   esptool over ``socket://`` acks in 40-80 ms; wait up to 3 s instead.
2. The mock ends a session 3 s after any FLASH_END even while data still flows;
   esptool 5 sends FLASH_END after every region, so multi-region writes broke.
   Never cut a session on a timer.
3. Flash size: the mock's flash is 4 MiB with a 4 MB JEDEC id. Each board here
   has its own size (16 MB default) and a matching JEDEC id.

What is simulated beyond the mock, with the smallest change that works (the
mock's eFuses all read 0, so a mock chip looks like a bare ESP32-S3 with no
embedded flash or PSRAM and a MAC shared by every mock):

- eFuses: the words esptool reads for the MAC (per board, so two boards are
  two chips), the flash type bit (octal) and the embedded PSRAM capability
  (size) are preset in the session's register file, which the mock answers
  before its own register profile.
- another chip: the mock's own chip profiles (``chip="esp32c3"`` etc.).
- a flaky link: ``max_baud`` drops the connection right after the chip acks a
  CHANGE_BAUDRATE above it, as a cable that cannot carry that rate does.
- a write hook: ``on_write(total_bytes)`` runs after each block is written
  (tests use it to interrupt a flash half way).
- a lossy link: ``lossy_above`` drops the connection after 16 KB have been
  received above that baud rate: the handshake passes, a long write does not
  (esptool's own reconnect then fails the same way).
- a slow flasher stub: ``stub_delay`` seconds pass between the ack of the
  stub upload and the stub's greeting ("OHAI"), as on a slow chip or link.
- erases: ``flash.erases`` counts whole-chip erases.
- raw eFuse and flash-id values (``invoke detect``'s tests): ``psram_efuse`` sets
  the PSRAM capability field to any value 0..7 (5..7 name no size), over what
  ``psram`` would set; ``flash_id`` sets the whole JEDEC id the SPI flash answers
  (manufacturer, type, capacity byte), e.g. one whose capacity byte esptool
  does not know.
- UART timing: with ``wire=True`` receiving takes as long as the bytes would
  at the current baud rate (the benchmark uses it; tests run unthrottled).

The flash store is a subclass of the mock's that writes with slice assignment
(the mock copies byte by byte) and counts bytes written.

Also here: `BootLoopPeer`, a serial peer that prints what an ESP32-S3 with a
blank or broken flash prints forever, and never answers the bootloader
protocol. Run ``python tests/harness/esp_mock.py`` to serve one board from a
separate process (it prints the URL; the benchmark uses this).
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import zlib

from esp32_mock_bootloader import protocol, server
from esptool.targets import CHIP_DEFS

MB = 1024 * 1024

# JEDEC capacity byte -> size, as esptool's DETECTED_FLASH_SIZES reads it (0x16 = 4MB ... 0x19 = 32MB).
_JEDEC_CAPACITY = {2 * MB: 0x15, 4 * MB: 0x16, 8 * MB: 0x17, 16 * MB: 0x18, 32 * MB: 0x19}
# ESP32-S3 eFuse BLOCK1 PSRAM capability codes (esptool targets/esp32s3.py get_psram_cap).
_PSRAM_CAP = {0: 0, 8 * MB: 1, 2 * MB: 2, 16 * MB: 3, 4 * MB: 4}
_CHANGE_BAUD_FRAME = bytes([protocol.SLIP_END, 0x00, protocol.CMD_CHANGE_BAUDRATE])
_OHAI_FRAME = bytes([protocol.SLIP_END]) + b"OHAI" + bytes([protocol.SLIP_END])

_patch_lock = threading.Lock()
_patched = False
_board = threading.local()  # the MockBoard whose session runs on this thread


def _recv_slip_payload(conn, stop_event, buf, limit=3.0):
    """The mock's READ_FLASH ack reader, waiting up to `limit` seconds (fix 1)."""
    started = time.monotonic()
    while not stop_event.is_set():
        payload = server._consume_slip_frame(buf)
        if payload is not None:
            return payload
        try:
            chunk = conn.recv(4096)
        except socket.timeout:
            if time.monotonic() - started > limit:
                return None
            continue
        except OSError:
            return None
        if not chunk:
            return None
        buf.extend(chunk)
    return None


class _Spi(server.SpiPeripheralMock):
    """The mock's SPI flash controller, answering this board's JEDEC id (fix 3)."""

    jedec_id = protocol.MOCK_FLASH_ID

    def read_reg(self, addr):
        value = super().read_reg(addr)
        if value == protocol.MOCK_FLASH_ID:
            return self.jedec_id
        return value


class _Session(server.ChipSession):
    """A chip session with this board's eFuses and flash id preset."""

    def __init__(self, chip_mode):
        super().__init__(chip_mode)
        board = getattr(_board, "current", None)
        if board is None:
            return
        spi = _Spi(None)
        spi.configure_for_chip(chip_mode)
        spi.jedec_id = board.jedec_id
        self.spi = spi
        self.registers.update(board.efuse_words())


def _install_patches() -> None:
    global _patched
    with _patch_lock:
        if _patched:
            return
        server._recv_slip_payload = _recv_slip_payload  # fix 1
        server._FLASH_END_IDLE_SEC = float("inf")  # fix 2
        server.ChipSession = _Session  # eFuses, JEDEC id (fix 3)
        _patched = True


class Flash(server.FlashImage):
    """The board's flash: the mock's store, sized per board, with a write counter.

    Writes are slice assignments (the mock copies byte by byte, which dominated
    the time of a 1.6 MB flash).
    """

    def __init__(self, size: int, on_write=None):
        self.data = bytearray(b"\xff" * size)
        self._defl_offset = 0
        self._decompressor = None
        self._plain_offset = 0
        self.bytes_written = 0
        self.bytes_received = 0  # the data of the write blocks as they came over the link (compressed)
        self.erases = 0
        self.on_write = on_write

    def erase_all(self) -> None:
        self.erases += 1
        super().erase_all()

    def _store(self, offset: int, block: bytes) -> None:
        end = min(offset + len(block), len(self.data))
        if offset < end:
            self.data[offset:end] = block[: end - offset]
        self.bytes_written += len(block)
        if self.on_write:
            self.on_write(self.bytes_written)

    def write_defl_block(self, payload):
        if len(payload) < 16 or self._decompressor is None:
            return
        length = struct.unpack_from("<I", payload, 0)[0]
        self.bytes_received += len(payload[16:16 + length])
        block = self._decompressor.decompress(payload[16:16 + length])
        offset = self._defl_offset
        self._defl_offset += len(block)
        self._store(offset, block)

    def write_plain_block(self, payload):
        if len(payload) < 16:
            return
        length = struct.unpack_from("<I", payload, 0)[0]
        block = payload[16:16 + length]
        self.bytes_received += len(block)
        offset = self._plain_offset
        self._plain_offset += len(block)
        self._store(offset, block)


class _Link(server.BootloaderConnection):
    """A connection that can behave like a UART: wire speed, and a rate it cannot carry.

    With the board's `wire` set, receiving takes as long as the bytes take at
    the current baud rate (10 bits a byte), so timings look like a real board's.
    With `max_baud`, the link fails after the chip acks a faster CHANGE_BAUDRATE
    (socket:// only: on a PTY, ending the session would close the PTY).
    """

    def __init__(self, board, **transport):
        super().__init__(**transport)
        self.board = board
        self.baud = 115200
        self.broken = False
        self.received = 0  # bytes since the last baud change

    def sendall(self, data):
        at = data.find(_OHAI_FRAME)
        if self.board.stub_delay and at >= 0:  # the stub greets late
            super().sendall(data[:at])
            time.sleep(self.board.stub_delay)
            data = data[at:]
        super().sendall(data)

    def recv(self, size):
        if self.broken:
            return b""  # the mock sees a hang-up and ends the session
        chunk = super().recv(size)
        at = chunk.find(_CHANGE_BAUD_FRAME)
        if at >= 0 and len(chunk) >= at + 13:
            new_baud = struct.unpack_from("<I", chunk, at + 9)[0]
            if self.board.max_baud and new_baud > self.board.max_baud:
                self.broken = True  # this command is still acked, then the link is gone
            self.baud = new_baud
            self.received = 0
        self.received += len(chunk)
        if self.board.lossy_above and self.baud > self.board.lossy_above and self.received > 16384:
            self.broken = True  # bytes lost in a long transfer: the session ends
        self.board.received += len(chunk)
        if self.board.wire and chunk:
            time.sleep(len(chunk) * 10 / self.baud)
        return chunk


class MockBoard:
    """One simulated board: a chip in download mode with its own flash and eFuses.

    chip: esptool chip name ("esp32s3", "esp32c3", ...).
    flash_size: bytes of flash (its JEDEC id says so, too).
    flash_type: "quad" or "octal" (eFuse flash-type bit).
    psram: bytes of embedded PSRAM (eFuse capability), 0 for none.
    mac: six bytes or "aa:bb:..."; default derived from the port so boards differ.
    pty: serve on a /dev/pts/N path instead of socket://.
    max_baud: the link fails above this baud rate (socket:// only).
    wire: take as long as a UART would at the current baud rate (benchmarks).
    on_write: called with the total bytes written after each block.
    stub_delay: seconds the flasher stub takes to greet after its upload.
    psram_efuse: the raw PSRAM capability eFuse value (0..7), instead of psram's.
    flash_id: the raw JEDEC id (24 bits) instead of the one flash_size makes.
    lossy_above: long transfers above this baud rate lose the link (socket:// only).
    """

    def __init__(self, chip: str = "esp32s3", *, flash_size: int = 16 * MB,
                 flash_type: str = "quad", psram: int = 8 * MB, mac=None, pty: bool = False,
                 max_baud: int = 0, wire: bool = False, on_write=None, stub_delay: float = 0.0,
                 lossy_above: int = 0, psram_efuse: int | None = None, flash_id: int | None = None):
        _install_patches()
        if flash_size not in _JEDEC_CAPACITY:
            raise ValueError(f"flash_size must be one of {sorted(_JEDEC_CAPACITY)}")
        if psram not in _PSRAM_CAP:
            raise ValueError(f"psram must be one of {sorted(_PSRAM_CAP)}")
        if psram_efuse is not None and not 0 <= psram_efuse <= 7:
            raise ValueError("psram_efuse is a 3-bit field: 0..7")
        self.chip = chip
        self.flash = Flash(flash_size, on_write)
        self.flash_type = flash_type
        self.psram = psram
        self.max_baud = max_baud
        self.wire = wire
        self.stub_delay = stub_delay
        self.lossy_above = lossy_above
        self.psram_efuse = _PSRAM_CAP[psram] if psram_efuse is None else psram_efuse
        self.jedec_id = ((_JEDEC_CAPACITY[flash_size] << 16) | (protocol.MOCK_FLASH_ID & 0xFFFF)
                         if flash_id is None else flash_id)
        self.sessions = 0
        self.received = 0  # bytes the host sent over the link (what crossed the wire to the board)
        self.stop = threading.Event()
        if pty:
            self._pty = server.PtyMasterTransport.create()
            self.url = self._pty.client_path
            self._srv = None
            target = self._serve_pty
        else:
            self._pty = None
            self._srv, self.url = _listen()
            target = self._serve_tcp
        if mac is None:
            tail = zlib.crc32(self.url.encode()) & 0xFFFFFF
            mac = bytes([0x24, 0x0A, 0xC4, tail >> 16, (tail >> 8) & 0xFF, tail & 0xFF])
        elif isinstance(mac, str):
            mac = bytes(int(part, 16) for part in mac.split(":"))
        self.mac = bytes(mac)
        self._thread = threading.Thread(target=target, name=f"mock {self.url}", daemon=True)
        self._thread.start()

    @property
    def mac_text(self) -> str:
        return ":".join(f"{b:02x}" for b in self.mac)

    def efuse_words(self) -> dict[int, int]:
        """eFuse register values that differ from the mock's zeros (ESP32-S3 layout)."""
        rom = CHIP_DEFS[self.chip]
        words = {}
        if hasattr(rom, "MAC_EFUSE_REG"):
            words[rom.MAC_EFUSE_REG] = int.from_bytes(self.mac[2:], "big")
            words[rom.MAC_EFUSE_REG + 4] = int.from_bytes(self.mac[:2], "big")
        if self.chip == "esp32s3":
            if self.flash_type == "octal":
                words[rom.EFUSE_RD_REPEAT_DATA3_REG] = rom.EFUSE_RD_REPEAT_DATA3_REG_FLASH_TYPE_MASK
            cap = self.psram_efuse
            block1_word4 = rom.EFUSE_BLOCK1_ADDR + 16
            block1_word5 = rom.EFUSE_BLOCK1_ADDR + 20
            # low two bits in word 4 (bits 3-4), high bit in word 5 (bit 19); vendor AP_1v8/AP_3v3
            vendor = (2 if cap in (1, 3) else 1) if cap else 0
            words[block1_word4] = ((cap & 3) << 3) | (vendor << 7)
            words[block1_word5] = (cap >> 2) << 19
        return words

    def _serve_tcp(self):
        while not self.stop.is_set():
            try:
                conn, _ = self._srv.accept()
            except (socket.timeout, OSError):
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._session(_Link(self, sock=conn))

    def _serve_pty(self):
        while not self.stop.is_set():
            self._session(_Link(self, pty=self._pty))

    def _session(self, conn):
        _board.current = self
        self.sessions += 1
        try:
            server.handle_client(conn, self.stop, self.chip, flash=self.flash)
        except Exception:  # a hook ended the session (e.g. an interrupted write)
            conn.close()

    def close(self):
        self.stop.set()
        self._thread.join(3)
        if self._srv is not None:
            self._srv.close()
        if self._pty is not None:
            self._pty.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# What an ESP32-S3 prints on UART0 at 115200 when its flash holds no valid
# bootloader: the ROM banner, then "invalid header", then a watchdog reset, forever.
BOOT_LOOP_TEXT = (
    b"ESP-ROM:esp32s3-20210327\r\n"
    b"Build:Mar 27 2021\r\n"
    b"rst:0x7 (TG0WDT_SYS_RST),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\n"
    b"Saved PC:0x40048826\r\n"
    b"invalid header: 0xffffffff\r\n"
    b"invalid header: 0xffffffff\r\n"
)


def _listen() -> tuple[socket.socket, str]:
    """A loopback listening socket on a free port, and its socket:// URL."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(0.1)
    return srv, f"socket://127.0.0.1:{srv.getsockname()[1]}"


class BootLoopPeer:
    """socket:// peer that prints a boot loop and ignores what it is sent."""

    def __init__(self, text: bytes = BOOT_LOOP_TEXT, period: float = 0.05):
        self.text, self.period = text, period
        self.stop = threading.Event()
        self._srv, self.url = _listen()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self._srv.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn):
        conn.settimeout(self.period)
        try:
            while not self.stop.is_set():
                conn.sendall(self.text)
                try:
                    if conn.recv(4096) == b"":
                        break
                except socket.timeout:
                    pass
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stop.set()
        self._thread.join(3)
        self._srv.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def main(argv=None) -> None:
    """Serve one board from this process until stdin closes; print its URL first.
    A line "stats" on stdin prints {"received": bytes from the host, "written":
    bytes written to flash} as one JSON line (the benchmark reads it)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--chip", default="esp32s3")
    parser.add_argument("--flash-mb", type=int, default=16)
    parser.add_argument("--psram-mb", type=int, default=8)
    parser.add_argument("--mac", default=None)
    parser.add_argument("--pty", action="store_true")
    parser.add_argument("--wire", action="store_true", help="simulate UART wire speed")
    args = parser.parse_args(argv)
    board = MockBoard(args.chip, flash_size=args.flash_mb * MB, psram=args.psram_mb * MB,
                      mac=args.mac, pty=args.pty, wire=args.wire)
    print(board.url, flush=True)
    try:
        for line in sys.stdin:
            if line.strip() == "stats":
                print(json.dumps({"received": board.received, "written": board.flash.bytes_written}), flush=True)
    finally:
        board.close()


if __name__ == "__main__":
    main()
