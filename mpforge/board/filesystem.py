"""The files on a board: read from its filesystem partition, kept in the workdir, put back.

MicroPython on the ESP32-S3 formats its filesystem as LittleFS v2 with
4096-byte blocks (docs/filesystem.md). Reading it needs no running firmware:
the blocks come through the ROM bootloader (`read_block`, given by the
esptool session), and littlefs-python walks them, fetching only the blocks
it needs. Writing files back builds a fresh LittleFS image for the new
geometry in memory and returns only the blocks it used: LittleFS never reads
a block its metadata does not point at, so the rest may keep old bytes.

A FAT filesystem (a board formatted with vfs.VfsFat) is recognised, not
opened: mpforge refuses to overwrite it and says how to save its files.

This module does no I/O of its own on the board and prints nothing; it
returns results and raises FilesystemError with a one-line reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from mpforge import state
from mpforge.image.partitions import Partition

BLOCK = 4096
#: LittleFS on-disk format 2.0: what every MicroPython release v1.22..v1.28 reads
#: (a newer minor version is refused by older littlefs code).
DISK_VERSION = 0x00020000
#: MicroPython's VfsLfs2 defaults on the ESP32 port (read, prog and lookahead sizes).
_LFS_OPTIONS = dict(read_size=32, prog_size=32, lookahead_size=32, disk_version=DISK_VERSION)
#: LittleFS writes this name into its superblock, 8 bytes into either of the first two blocks.
_LFS_MAGIC = b"littlefs"
MANIFEST = "backup.json"


class FilesystemError(Exception):
    """The board's filesystem cannot be copied; str() says why in one line."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind  # unreadable | fat | unsafe | full


@dataclass
class Snapshot:
    """The files of one filesystem: paths like '/lib/x.py' -> their bytes."""

    files: dict[str, bytes] = field(default_factory=dict)
    dirs: list[str] = field(default_factory=list)
    block_count: int = 0  # the geometry it was read with (0: not read from a board)

    @property
    def size(self) -> int:
        return sum(len(data) for data in self.files.values())

    def describe(self) -> str:
        count = len(self.files)
        return f"{count} file{'s' if count != 1 else ''} ({self.size} bytes)"


def kind_of(first_blocks: bytes) -> str:
    """What the first two blocks of a region hold: blank | littlefs | fat | unknown."""
    if first_blocks.count(0xFF) == len(first_blocks):
        return "blank"
    if any(first_blocks[at + 8:at + 16] == _LFS_MAGIC for at in (0, BLOCK)):
        return "littlefs"
    boot = first_blocks[:512]
    if boot[510:512] == b"\x55\xaa" and (b"FAT" in boot[0x36:0x3E] or b"FAT" in boot[0x52:0x5A]):
        return "fat"
    return "unknown"


class _ChipBlocks:
    """A littlefs-python context that reads a region's blocks from the chip on demand."""

    def __init__(self, read_block, region: Partition, first: bytes):
        self.read_block = read_block
        self.region = region
        self.cache = {0: first[:BLOCK], 1: first[BLOCK:2 * BLOCK]}

    def read(self, cfg, block, off, size):
        if (block + 1) * BLOCK > self.region.size:
            raise IOError(f"block {block} is past the end of the partition")
        if block not in self.cache:
            self.cache[block] = self.read_block(self.region.offset + block * BLOCK, BLOCK)
        return bytearray(self.cache[block][off:off + size])

    def prog(self, cfg, block, off, data):
        raise IOError("read only")

    def erase(self, cfg, block):
        raise IOError("read only")

    def sync(self, cfg):
        return 0


def _safe_name(name: str) -> bool:
    """A directory entry that can become one path component here (board text is data)."""
    return (name not in ("", ".", "..") and "/" not in name and "\\" not in name
            and "\0" not in name and name.isprintable())


def read(read_block, region: Partition) -> Snapshot | None:
    """The files in the filesystem at `region`, None when the region is blank.

    read_block(offset, size) -> bytes reads the chip's flash. FilesystemError
    when the region holds something that is not a readable LittleFS.
    """
    from littlefs import LittleFS, LittleFSError

    first = read_block(region.offset, 2 * BLOCK)
    found = kind_of(first)
    where = f"the filesystem at {region.offset:#x}"
    if found == "blank":
        return None
    if found == "fat":
        raise FilesystemError("fat", f"{where} is FAT, which mpforge does not copy")
    if found != "littlefs":
        raise FilesystemError("unreadable", f"{where} is neither LittleFS nor blank")
    context = _ChipBlocks(read_block, region, first)
    # block_count 0: the geometry the superblock records, which may differ from the
    # partition's when another firmware's layout was written over it
    fs = LittleFS(context=context, block_size=BLOCK, block_count=0, mount=False, **_LFS_OPTIONS)
    snapshot = Snapshot()
    try:
        fs.mount()
        snapshot.block_count = fs.block_count
        for top, dirs, files in fs.walk("/"):
            for name in dirs + files:
                if not _safe_name(name):
                    raise FilesystemError("unsafe", f"{where} has a file name mpforge will not "
                                                    f"copy ({name!r})")
            base = top.rstrip("/")
            snapshot.dirs += [f"{base}/{name}" for name in dirs]
            for name in files:
                with fs.open(f"{base}/{name}", "rb") as handle:
                    snapshot.files[f"{base}/{name}"] = handle.read()
    except FilesystemError:
        raise
    except (LittleFSError, OSError, ValueError, UnicodeError) as exc:
        raise FilesystemError("unreadable", f"{where} is damaged LittleFS ({exc})") from None
    return snapshot


# ---- a fresh LittleFS image for a new geometry ----------------------------------------

class _Recording:
    """An in-memory context that notes every block LittleFS erased (and so wrote)."""

    def __init__(self, size: int):
        self.buffer = bytearray(b"\xff" * size)
        self.used: set[int] = set()

    def read(self, cfg, block, off, size):
        start = block * BLOCK + off
        return self.buffer[start:start + size]

    def prog(self, cfg, block, off, data):
        start = block * BLOCK + off
        self.buffer[start:start + len(data)] = data
        return 0

    def erase(self, cfg, block):
        self.used.add(block)
        self.buffer[block * BLOCK:(block + 1) * BLOCK] = b"\xff" * BLOCK
        return 0

    def sync(self, cfg):
        return 0


def image(snapshot: Snapshot, size: int) -> list[tuple[int, bytes]]:
    """A LittleFS holding `snapshot` for a region of `size` bytes, as (offset in the
    region, bytes) runs of the blocks it uses; FilesystemError('full') when it does not fit."""
    from littlefs import LittleFS, LittleFSError

    count = size // BLOCK
    context = _Recording(count * BLOCK)
    fs = LittleFS(context=context, block_size=BLOCK, block_count=count, mount=False, **_LFS_OPTIONS)
    try:
        fs.format()
        fs.mount()
        for path in sorted(snapshot.dirs, key=lambda p: p.count("/")):
            fs.makedirs(path, exist_ok=True)
        for path, data in sorted(snapshot.files.items()):
            with fs.open(path, "wb") as handle:
                handle.write(data)
        fs.unmount()
    except LittleFSError as exc:
        raise FilesystemError("full", f"{snapshot.describe()} do not fit in a {size // 1024} KB "
                                      f"filesystem ({exc})") from None
    runs: list[tuple[int, bytes]] = []
    start = previous = None
    for block in sorted(context.used) + [None]:
        if block is not None and previous is not None and block == previous + 1:
            previous = block
            continue
        if start is not None:
            runs.append((start * BLOCK, bytes(context.buffer[start * BLOCK:(previous + 1) * BLOCK])))
        start = previous = block
    return runs


def open_image(data: bytes) -> Snapshot:
    """The files in a whole LittleFS image (tests, and a backup's check)."""
    snapshot = read(lambda offset, size: data[offset:offset + size],
                    Partition("vfs", 1, 0x81, 0, len(data)))
    return snapshot or Snapshot()


# ---- backups in the workdir ---------------------------------------------------------------

def backups_dir(workdir: Path, mac: str) -> Path:
    return workdir / "backups" / mac.replace(":", "-")


def save(snapshot: Snapshot, workdir: Path, mac: str, region: Partition, reason: str) -> Path:
    """Write the files to <workdir>/backups/<mac>/<time stamp>/ (whole, or not at all)."""
    root = backups_dir(workdir, mac)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dest = root / stamp
    n = 1
    while dest.exists():
        n += 1
        dest = root / f"{stamp}-{n}"
    tmp = root / f".{dest.name}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "files").mkdir(parents=True)
    for path in snapshot.dirs:
        (tmp / "files" / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
    for path, data in snapshot.files.items():
        target = tmp / "files" / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    manifest = {
        "mac": mac, "made": time.strftime("%Y-%m-%dT%H:%M:%S"), "reason": reason,
        "partition": {"offset": hex(region.offset), "size": hex(region.size)},
        "block_size": BLOCK, "block_count": snapshot.block_count,
        "dirs": sorted(snapshot.dirs),
        "files": {path: hashlib.sha256(data).hexdigest() for path, data in sorted(snapshot.files.items())},
    }
    state.atomic_write(tmp / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    os.rename(tmp, dest)
    return dest


def latest(workdir: Path, mac: str) -> Path | None:
    """The newest complete backup of a board, None when there is none."""
    root = backups_dir(workdir, mac)
    found = sorted(p for p in root.glob("[0-9]*") if (p / MANIFEST).is_file()) if root.is_dir() else []
    return found[-1] if found else None


def load(folder: Path) -> Snapshot:
    """A backup folder's files, checked against its manifest."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        wanted = manifest["files"]
        dirs = list(manifest.get("dirs", []))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FilesystemError("unreadable", f"{folder} is not an mpforge backup ({exc})") from None
    snapshot = Snapshot(dirs=dirs)
    for path, digest in wanted.items():
        parts = path.strip("/").split("/")
        if not path.startswith("/") or not all(_safe_name(p) for p in parts):
            raise FilesystemError("unsafe", f"{folder / MANIFEST} names an unsafe path ({path!r})")
        try:
            data = (folder / "files" / Path(*parts)).read_bytes()
        except OSError:
            raise FilesystemError("unreadable", f"{folder}: {path} is missing") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise FilesystemError("unreadable", f"{folder}: {path} changed since the backup")
        snapshot.files[path] = data
    return snapshot
