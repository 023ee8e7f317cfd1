"""Valid ESP32 flash images and fake ESP-IDF build folders, made without a toolchain.

Images are built with esptool's own image classes (esptool.bin_image), so they
have real headers, segments, checksum and appended SHA-256, and
``esptool.bin_image.LoadFirmwareImage(chip, data)`` loads them. Contents are
deterministic for a given seed and compress about as well as real firmware
(roughly half), so flash timings are realistic.

Stable API (other harness modules and a simulated `make` use it; only esptool
and the standard library are imported):

    make_app_image(size, chip="esp32s3", flash_size="16MB", seed=0, version="v1.0.0") -> bytes
    make_bootloader(size=0x5000, chip="esp32s3", flash_size="16MB", seed=1) -> bytes
    make_partition_table(entries) -> bytes
    default_partitions(flash_size="16MB") -> list of PartitionEntry tuples
    merge_images({offset: bytes}) -> bytes
    write_fake_build(build_dir, app_size=..., flash_size="16MB", chip="esp32s3", ...) -> dict
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import struct
from pathlib import Path
from typing import NamedTuple

from esptool.bin_image import ELFSection, ESP32FirmwareImage, LoadFirmwareImage
from esptool.targets import CHIP_DEFS

MB = 1024 * 1024
SECTOR = 0x1000

BOOTLOADER_OFFSET_S3 = 0x0
PARTITION_TABLE_OFFSET = 0x8000
APP_OFFSET = 0x10000
APP_PARTITION_SIZE = 0x1F0000
VFS_OFFSET = 0x200000

# esp_app_desc_t.magic_word (ESP-IDF components/esp_app_format)
APP_DESC_MAGIC = 0xABCD5432
FLASH_MODES = {"qio": 0, "qout": 1, "dio": 2, "dout": 3}

# Partition table binary format (ESP-IDF gen_esp32part.py)
PARTITION_MAGIC = b"\xAA\x50"
PARTITION_MD5_BEGIN = b"\xEB\xEB" + b"\xFF" * 14
PARTITION_TABLE_SIZE = 0xC00
PARTITION_TYPES = {"app": 0x00, "data": 0x01}
PARTITION_SUBTYPES = {
    "app": {"factory": 0x00, "test": 0x20, **{f"ota_{i}": 0x10 + i for i in range(16)}},
    "data": {"ota": 0x00, "phy": 0x01, "nvs": 0x02, "coredump": 0x03, "nvs_keys": 0x04,
             "efuse": 0x05, "undefined": 0x06, "esphttpd": 0x80, "fat": 0x81, "spiffs": 0x82,
             "littlefs": 0x83},
}


class PartitionEntry(NamedTuple):
    name: str
    type: str | int  # "app" | "data" | number
    subtype: str | int  # e.g. "factory", "nvs", "fat" | number
    offset: int
    size: int
    flags: int = 0


def flash_size_bytes(flash_size: str) -> int:
    """'16MB' -> 16777216."""
    if not flash_size.upper().endswith("MB"):
        raise ValueError(f"flash size {flash_size!r}: expected e.g. '16MB'")
    return int(flash_size[:-2]) * MB


def _rom(chip: str):
    try:
        return CHIP_DEFS[chip]
    except KeyError:
        raise ValueError(f"unknown chip {chip!r}; esptool knows {', '.join(CHIP_DEFS)}") from None


def _region(rom, name: str) -> int:
    for start, _end, region in rom.MEMORY_MAP:
        if region == name:
            return start
    raise ValueError(f"{rom.CHIP_NAME} has no {name} region")


def _filler(size: int, seed: int) -> bytes:
    """Deterministic bytes that compress to about half, like real firmware."""
    rng = random.Random(seed)
    pattern = (b"MicroPython\x00\x00\x00\x00" + bytes(range(0, 256, 3))) * 8
    out = bytearray()
    while len(out) < size:
        out += rng.randbytes(1024)
        start = rng.randrange(64)
        out += pattern[start:start + 1024]
    return bytes(out[:size])


def _new_image(chip: str, flash_size: str, flash_mode: str, flash_freq: str) -> ESP32FirmwareImage:
    rom = _rom(chip)
    image = rom.BOOTLOADER_IMAGE()
    image.flash_mode = FLASH_MODES[flash_mode]
    image.flash_size_freq = rom.FLASH_SIZES[flash_size] | rom.FLASH_FREQUENCY[flash_freq]
    return image


def _app_desc(version: str, project: str, idf_version: str) -> bytes:
    """An esp_app_desc_t (256 bytes): what `esptool image-info` and the bootloader read."""
    def text(value: str, n: int) -> bytes:
        return value.encode()[: n - 1].ljust(n, b"\0")

    return (struct.pack("<IIII", APP_DESC_MAGIC, 0, 0, 0) + text(version, 32) + text(project, 32)
            + text("00:00:00", 16) + text("Jan  1 2026", 16) + text(idf_version, 32)
            + bytes(32) + struct.pack("<HHB3x", 0, 0xFFFF, 16) + bytes(72))


def _save(image: ESP32FirmwareImage) -> bytes:
    image.pad_to_size = 0
    return image.save(None)


def make_app_image(size: int, chip: str = "esp32s3", flash_size: str = "16MB", *, seed: int = 0,
                   version: str = "v1.0.0", project: str = "micropython",
                   idf_version: str = "v5.5.1", flash_mode: str = "dio",
                   flash_freq: str = "80m", filler=None) -> bytes:
    """An application image of about `size` bytes (at most `size`, within 64 bytes below).

    filler(size, seed) -> bytes makes the segments' content (default: about half compressible).

    One flash-mapped DROM segment starting with an esp_app_desc_t, one IRAM
    segment, checksum and the appended SHA-256, as ESP-IDF's elf2image writes.
    """
    rom = _rom(chip)
    if size < 4096:
        raise ValueError("an app image needs at least 4096 bytes")
    ram_size = 1024
    drom_size = size - 256  # first guess; corrected below from the saved length
    for _ in range(3):
        image = _new_image(chip, flash_size, flash_mode, flash_freq)
        image.entrypoint = _region(rom, "IRAM") + 0x100
        desc = _app_desc(version, project, idf_version)
        fill = filler or _filler
        drom = desc + fill(drom_size - len(desc), seed)
        image.segments = [ELFSection(b".flash.rodata", rom.DROM_MAP_START + 0x20, drom, 0),
                          ELFSection(b".iram0.text", _region(rom, "IRAM"),
                                     fill(ram_size, seed + 1), 0)]
        data = _save(image)
        if size - 64 <= len(data) <= size:
            break
        drom_size += size - len(data) - 16
        drom_size -= drom_size % 4
    LoadFirmwareImage(chip, data)  # our own check: esptool can read it back
    return data


def make_bootloader(size: int = 0x5000, chip: str = "esp32s3", flash_size: str = "16MB", *,
                    seed: int = 1, flash_mode: str = "dio", flash_freq: str = "80m") -> bytes:
    """A second-stage bootloader image (RAM segments only), about `size` bytes."""
    rom = _rom(chip)
    image = _new_image(chip, flash_size, flash_mode, flash_freq)
    # Inside the RAM regions; on the ESP32, IRAM + 0x58000 would already be its flash-mapped IROM.
    into = 0x400 if chip == "esp32" else 0x58000
    image.entrypoint = _region(rom, "IRAM") + into
    dram = _region(rom, "DRAM") + into
    iram = _region(rom, "IRAM") + into
    half = max(256, (size - 128) // 2) & ~3
    image.segments = [ELFSection(b".dram0.data", dram, _filler(half, seed), 0),
                      ELFSection(b".iram_loader.text", iram, _filler(half, seed + 1), 0)]
    data = _save(image)
    LoadFirmwareImage(chip, data)
    if rom.BOOTLOADER_FLASH_OFFSET + len(data) > PARTITION_TABLE_OFFSET:
        raise ValueError("bootloader would overlap the partition table at 0x8000")
    return data


def _code(table: dict, value, what: str) -> int:
    if isinstance(value, int):
        return value
    try:
        return table[value]
    except KeyError:
        raise ValueError(f"unknown partition {what} {value!r}") from None


def make_partition_table(entries) -> bytes:
    """The binary table ESP-IDF writes: 32-byte entries, the MD5 entry, 0xFF to 0xC00."""
    body = b""
    for entry in entries:
        e = PartitionEntry(*entry)
        ptype = _code(PARTITION_TYPES, e.type, "type")
        key = {0: "app", 1: "data"}.get(ptype, "")
        subtype = _code(PARTITION_SUBTYPES.get(key, {}), e.subtype, "subtype")
        name = e.name.encode()[:15].ljust(16, b"\0")
        body += struct.pack("<2sBBLL16sL", PARTITION_MAGIC, ptype, subtype, e.offset, e.size,
                            name, e.flags)
    body += PARTITION_MD5_BEGIN + hashlib.md5(body).digest()
    if len(body) > PARTITION_TABLE_SIZE:
        raise ValueError("too many partitions")
    return body + b"\xFF" * (PARTITION_TABLE_SIZE - len(body))


def default_partitions(flash_size: str = "16MB") -> list[PartitionEntry]:
    """MicroPython's ESP32 layout: nvs, phy_init, factory app, vfs (fat) to the end of flash."""
    total = flash_size_bytes(flash_size)
    if total <= VFS_OFFSET:
        raise ValueError(f"flash size {flash_size} leaves no room for the vfs partition")
    return [
        PartitionEntry("nvs", "data", "nvs", 0x9000, 0x6000),
        PartitionEntry("phy_init", "data", "phy", 0xF000, 0x1000),
        PartitionEntry("factory", "app", "factory", APP_OFFSET, APP_PARTITION_SIZE),
        PartitionEntry("vfs", "data", "fat", VFS_OFFSET, total - VFS_OFFSET),
    ]


def merge_images(parts: dict[int, bytes]) -> bytes:
    """One image from {offset: bytes}, gaps filled with 0xFF (like makeimg.py / merge-bin)."""
    out = bytearray()
    for offset in sorted(parts):
        if offset < len(out):
            raise ValueError(f"image at {offset:#x} overlaps the one before it")
        out += b"\xFF" * (offset - len(out)) + parts[offset]
    return bytes(out)


def _atomic(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)


def flasher_args(chip: str, flash_size: str, flash_mode: str = "dio",
                 flash_freq: str = "80m", bootloader_offset: int = BOOTLOADER_OFFSET_S3,
                 app_offset: int = APP_OFFSET, otadata_offset: int | None = None) -> dict:
    """flasher_args.json as ESP-IDF's components/esptool_py writes it."""
    def entry(offset: int, file: str) -> dict:
        return {"offset": hex(offset), "file": file, "encrypted": "false"}

    files = {hex(bootloader_offset): "bootloader/bootloader.bin",
             hex(app_offset): "micropython.bin",
             hex(PARTITION_TABLE_OFFSET): "partition_table/partition-table.bin"}
    extra = {}
    if otadata_offset is not None:  # an OTA table: idf.py flashes the blank otadata too
        files[hex(otadata_offset)] = "ota_data_initial.bin"
        extra["otadata"] = entry(otadata_offset, "ota_data_initial.bin")
    return {**extra,
        "write_flash_args": ["--flash_mode", flash_mode, "--flash_size", flash_size,
                             "--flash_freq", flash_freq],
        "flash_settings": {"flash_mode": flash_mode, "flash_size": flash_size,
                           "flash_freq": flash_freq},
        "flash_files": files,
        "bootloader": entry(bootloader_offset, "bootloader/bootloader.bin"),
        "app": entry(app_offset, "micropython.bin"),
        "partition-table": entry(PARTITION_TABLE_OFFSET, "partition_table/partition-table.bin"),
        "extra_esptool_args": {"after": "hard_reset", "before": "default_reset", "stub": True,
                               "chip": chip},
    }


def write_fake_build(build_dir, app_size: int = 256 * 1024, flash_size: str = "16MB",
                     chip: str = "esp32s3", *, seed: int = 0, version: str = "v1.0.0",
                     bootloader_size: int = 0x5000, app: bytes | None = None,
                     partitions: list | None = None) -> dict:
    """Write what an ESP-IDF MicroPython build leaves in its build dir; return the images.

    Files: bootloader/bootloader.bin, partition_table/partition-table.bin,
    micropython.bin, firmware.bin (bootloader + table + app merged at 0x0, as
    MicroPython's makeimg.py does), flasher_args.json and flash_args.
    `app` replaces the generated application image (e.g. one with a changed sector).
    `partitions` (PartitionEntry tuples) replaces MicroPython's default table: the app
    goes to its first app partition, and an OTA table adds ota_data_initial.bin
    (all 0xFF: no slot chosen yet, the bootloader starts ota_0), as ESP-IDF does.
    Returns {"bootloader": bytes, "partition-table": bytes, "app": bytes, "firmware": bytes}.
    """
    build = Path(build_dir)
    rom = _rom(chip)
    boot_offset = rom.BOOTLOADER_FLASH_OFFSET
    bootloader = make_bootloader(bootloader_size, chip, flash_size, seed=seed + 1000)
    entries = [PartitionEntry(*e) for e in (partitions or default_partitions(flash_size))]
    table = make_partition_table(entries)
    app_offset = next(e.offset for e in entries if e.type == "app")
    otadata = next((e for e in entries if e.type == "data" and e.subtype == "ota"), None)
    app = app if app is not None else make_app_image(app_size, chip, flash_size, seed=seed,
                                                     version=version)
    firmware = merge_images({0: b"\xFF" * boot_offset + bootloader,
                             PARTITION_TABLE_OFFSET: table, app_offset: app})
    args = flasher_args(chip, flash_size, bootloader_offset=boot_offset, app_offset=app_offset,
                        otadata_offset=otadata.offset if otadata else None)
    if otadata:
        _atomic(build / "ota_data_initial.bin", b"\xFF" * otadata.size)
    _atomic(build / "bootloader" / "bootloader.bin", bootloader)
    _atomic(build / "partition_table" / "partition-table.bin", table)
    _atomic(build / "micropython.bin", app)
    _atomic(build / "firmware.bin", firmware)
    _atomic(build / "flash_args",
            f"--flash_mode dio --flash_freq 80m --flash_size {flash_size}\n"
            + "".join(f"{off} {rel}\n" for off, rel in args["flash_files"].items()))
    _atomic(build / "flasher_args.json", json.dumps(args, indent=4) + "\n")
    return {"bootloader": bootloader, "partition-table": table, "app": app, "firmware": firmware}


def change_one_sector(image: bytes, offset: int = 0x60000, chip: str = "esp32s3") -> bytes:
    """A valid copy of app `image` with 16 bytes changed in the flash sector at `offset`.

    Re-saved with esptool, so the checksum and SHA-256 at the end change too:
    like a one-line source change, it touches that sector and the last one.
    """
    loaded = LoadFirmwareImage(chip, image)
    for segment in loaded.segments:
        start = segment.file_offs
        if start <= offset + 100 and offset + 116 <= start + len(segment.data):
            data = bytearray(segment.data)
            for i in range(offset + 100 - start, offset + 116 - start):
                data[i] ^= 0x5A
            segment.data = bytes(data)
            break
    else:
        raise ValueError(f"no segment holds offset {offset:#x}")
    for i, segment in enumerate(loaded.segments):
        segment.name = getattr(segment, "name", f"segment{i}")  # save() wants ELF section names
    loaded.pad_to_size = 0
    out = loaded.save(None)
    if len(out) != len(image):
        raise AssertionError("re-saving the image changed its layout")
    return out
