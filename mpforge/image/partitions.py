"""ESP partition tables in their binary form (what the build writes to
partition_table/partition-table.bin and the chip reads at 0x8000).

Format (ESP-IDF gen_esp32part.py, facts only): 32-byte entries
`<magic 0xAA50> <type> <subtype> <offset u32> <size u32> <label 16s> <flags u32>`,
an optional MD5 entry (magic 0xEBEB), then 0xFF padding.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

ENTRY = struct.Struct("<2sBBLL16sL")
MAGIC = b"\xaa\x50"
MD5_MAGIC = b"\xeb\xeb"
APP, DATA = 0x00, 0x01
MAX_SIZE = 0xC00


@dataclass(frozen=True)
class Partition:
    """One entry of a partition table (offsets and sizes in bytes)."""

    label: str
    type: int
    subtype: int
    offset: int
    size: int

    @property
    def end(self) -> int:
        return self.offset + self.size


def parse(data: bytes) -> list[Partition]:
    """The partitions in a binary table; ValueError when it is not one."""
    result = []
    for pos in range(0, min(len(data), MAX_SIZE), ENTRY.size):
        chunk = data[pos:pos + ENTRY.size]
        if len(chunk) < ENTRY.size or chunk[:2] in (MD5_MAGIC, b"\xff\xff"):
            break
        magic, ptype, subtype, offset, size, label, _flags = ENTRY.unpack(chunk)
        if magic != MAGIC:
            raise ValueError(f"bad entry magic at byte {pos}")
        result.append(Partition(label.rstrip(b"\0").decode(errors="replace"), ptype, subtype, offset, size))
    return _some(result)


def first_app(table: list[Partition]) -> Partition | None:
    """The partition the bootloader starts: factory if present, else the first app."""
    apps = [p for p in table if p.type == APP]
    factory = [p for p in apps if p.subtype == 0x00]
    return (factory or apps or [None])[0]


def problems(table: list[Partition], flash_size: int) -> list[str]:
    """Overlaps, partitions past the end of flash, misaligned apps."""
    found = []
    ordered = sorted(table, key=lambda p: p.offset)
    for a, b in zip(ordered, ordered[1:]):
        if b.offset < a.end:
            found.append(f"partitions {a.label} and {b.label} overlap")
    for p in table:
        if p.end > flash_size:
            found.append(f"partition {p.label} ends at {p.end:#x}, past the {flash_size // 2**20}MB flash")
        if p.type == APP and p.offset % 0x10000:
            found.append(f"app partition {p.label} at {p.offset:#x} is not 64 KB aligned")
    return found


# ---- the CSV form (ports/esp32/partitions-*.csv) ----------------------------------------
# Used when the IDF checkout's own gen_esp32part.py is not there to read it.
# Format facts (docs/esp-idf.md §6): `name, type, subtype, offset, size, flags`;
# numbers in decimal, 0x hex or with a K/M suffix; a blank offset is placed after the
# previous partition, aligned (apps to 64 KB, the rest to 4 KB).

TYPES = {"app": APP, "data": DATA, "bootloader": 0x02, "partition_table": 0x03}
SUBTYPES = {
    APP: {"factory": 0x00, "test": 0x20, **{f"ota_{i}": 0x10 + i for i in range(16)}},
    DATA: {"ota": 0x00, "phy": 0x01, "nvs": 0x02, "coredump": 0x03, "nvs_keys": 0x04, "efuse": 0x05,
           "undefined": 0x06, "esphttpd": 0x80, "fat": 0x81, "spiffs": 0x82, "littlefs": 0x83},
}
TABLE_OFFSET = 0x8000  # CONFIG_PARTITION_TABLE_OFFSET's default
TABLE_SECTOR = 0x1000  # the table takes one 4 KB sector: no partition may start inside it


def parse_number(text: str) -> int:
    """'0x1F0000', '2M', '24K', '4096' -> bytes; ValueError otherwise."""
    t = text.strip()
    factor = 1
    if t[-1:].upper() in ("K", "M"):
        factor = 1024 if t[-1].upper() == "K" else 1024 * 1024
        t = t[:-1]
    value = int(t, 0)
    if value < 0:
        raise ValueError(f"negative number {text!r}")
    return value * factor


def _code(field: str, names: dict, what: str) -> int:
    key = field.strip().lower()
    if key in names:
        return names[key]
    try:
        return int(key, 0)
    except ValueError:
        raise ValueError(f"unknown {what} {field.strip()!r}") from None


def parse_csv(text: str, table_offset: int = TABLE_OFFSET) -> list[Partition]:
    """The partitions in a CSV table; ValueError naming the line when one cannot be read."""
    result: list[Partition] = []
    next_free = table_offset + TABLE_SECTOR
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")]
        fields += [""] * (6 - len(fields))
        try:
            if "$" in line:
                raise ValueError("environment variables in the table are not supported here")
            label, type_name, subtype_name, offset_text, size_text = fields[:5]
            ptype = _code(type_name, TYPES, "type")
            subtype = _code(subtype_name, SUBTYPES.get(ptype, {}), "subtype") if subtype_name else 0
            align = 0x10000 if ptype == APP else 0x1000
            offset = parse_number(offset_text) if offset_text else -(-next_free // align) * align
            if not size_text:
                raise ValueError("no size")
            size = parse_number(size_text)
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
        result.append(Partition(label[:15], ptype, subtype, offset, size))
        next_free = offset + size
    return _some(result)


def _some(table: list[Partition]) -> list[Partition]:
    if not table:
        raise ValueError("no partitions")
    return table


def find(table: list[Partition], ptype: int, *, label: str | None = None,
         offset: int | None = None) -> Partition | None:
    """The first partition of that type (and that label, that offset, where given)."""
    return next((p for p in table if p.type == ptype and label in (None, p.label)
                 and offset in (None, p.offset)), None)


def filesystem(table: list[Partition]) -> Partition | None:
    """The partition MicroPython mounts: data 'vfs', else 'ffat' (ports/esp32/modules/flashbdev.py)."""
    return find(table, DATA, label="vfs") or find(table, DATA, label="ffat")


# ---- where a firmware's filesystem lives (docs/filesystem.md) -----------------------------

def filesystem_region(table: list[Partition], flash_size: int, auto_vfs: bool = True) -> Partition | None:
    """The flash region the firmware mounts as its filesystem, None when it has none.

    `auto_vfs`: the firmware creates a vfs at boot when its table has none (v1.26+);
    flash_size is the chip's physical size, which that vfs grows to fill.
    """
    found = filesystem(table)
    if found is not None or not auto_vfs:
        return found
    end = max(p.end for p in table)
    if flash_size <= end:
        return None
    return Partition("vfs", DATA, SUBTYPES[DATA]["fat"], end, flash_size - end)


def same_region(a: Partition | None, b: Partition | None) -> bool:
    """Whether two filesystem regions are the same on flash (offset and size)."""
    if a is None or b is None:
        return a is b
    return (a.offset, a.size) == (b.offset, b.size)
