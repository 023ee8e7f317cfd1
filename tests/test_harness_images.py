"""The image builders in tests/harness/images.py make what ESP-IDF and esptool accept."""

from __future__ import annotations

import hashlib
import json
import struct

from esptool.bin_image import LoadFirmwareImage

from harness.images import (change_one_sector, default_partitions, make_app_image,
                            make_bootloader, make_partition_table, write_fake_build)
from mpforge.image import firmware


def test_app_image_is_a_valid_esp32s3_image():
    data = make_app_image(200_000)
    assert 200_000 - 64 <= len(data) <= 200_000
    image = LoadFirmwareImage("esp32s3", data)
    assert image.chip_id == 9
    assert image.stored_digest == image.calc_digest
    assert image.checksum == image.calculate_checksum()
    assert data[3] >> 4 == 4  # 16MB in the header's flash size field
    assert make_app_image(200_000) == data  # deterministic


def test_bootloader_and_other_chip():
    assert LoadFirmwareImage("esp32s3", make_bootloader()).chip_id == 9
    assert LoadFirmwareImage("esp32c3", make_app_image(8192, chip="esp32c3")).chip_id == 5


def test_partition_table_binary_format():
    table = make_partition_table(default_partitions("16MB"))
    assert len(table) == 0xC00
    entries = [table[i:i + 32] for i in range(0, 4 * 32, 32)]
    assert all(e[:2] == b"\xAA\x50" for e in entries)
    name, offset, size = entries[3][12:28].rstrip(b"\0"), *struct.unpack_from("<LL", entries[3], 4)
    assert (name, offset, size) == (b"vfs", 0x200000, 16 * 1024 * 1024 - 0x200000)
    md5 = table[128:160]
    assert md5[:16] == b"\xEB\xEB" + b"\xFF" * 14
    assert md5[16:] == hashlib.md5(table[:128]).digest()
    assert set(table[160:]) == {0xFF}


def test_one_sector_change_stays_valid_and_local():
    app = make_app_image(100_000)
    changed = change_one_sector(app, 0x8000)
    image = LoadFirmwareImage("esp32s3", changed)
    assert image.stored_digest == image.calc_digest
    sectors = {i // 4096 for i in range(len(app)) if app[i] != changed[i]}
    assert sectors == {8, (len(app) - 1) // 4096}


def test_fake_build_is_what_mpforge_reads(tmp_path):
    images = write_fake_build(tmp_path, app_size=64 * 1024, flash_size="4MB")
    fw = firmware.load(tmp_path)
    assert (fw.chip, fw.flash_size, fw.flash_mode) == ("esp32s3", "4MB", "dio")
    assert [(i.offset, i.role) for i in fw.images] == [
        (0x0, "bootloader"), (0x8000, "partition-table"), (0x10000, "app")]
    merged = (tmp_path / "firmware.bin").read_bytes()
    assert merged[:len(images["bootloader"])] == images["bootloader"]
    assert merged[0x8000:0x8C00] == images["partition-table"]
    assert merged[0x10000:] == images["app"]
    assert set(merged[len(images["bootloader"]):0x8000]) == {0xFF}
    args = json.loads((tmp_path / "flasher_args.json").read_text())
    assert args["extra_esptool_args"]["chip"] == "esp32s3"
    assert args["write_flash_args"] == ["--flash_mode", "dio", "--flash_size", "4MB",
                                        "--flash_freq", "80m"]
