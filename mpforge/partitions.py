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
    if not result:
        raise ValueError("no partitions")
    return result


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
