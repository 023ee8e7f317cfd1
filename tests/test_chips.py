"""Chips as data: the code reads where the bootloader goes from the chip's entry in
mpforge/model/chips.toml, so a new chip is an entry (plus overlays), not an edit of dist.

The ESP32 entry below is test data in a copy of the registry: its bootloader offset
(0x1000) is esptool's own for that chip, as the registry's esp32s3 entry must be too.
The build it collects is simulated (tests/harness/images.py: real ESP images, no IDF).
"""

from __future__ import annotations

import json

import pytest
from esptool.targets import CHIP_DEFS

from harness.images import write_fake_build
from mpforge.dist import collect
from mpforge.model import chips
from mpforge.model import settings as settings_mod

ESP32_ENTRY = """
[chip.esp32]
name = "ESP32"
idf_target = "esp32"
mcu_name = "ESP32"
bootloader_offset = 0x1000
cpu_mhz = [80, 160, 240]
kconfig_cpu_mhz = "ESP_DEFAULT_CPU_FREQ_MHZ"
"""

ESP32_PROFILE = """
[board]
name = "ESP32-DevKitC-VE"
chip = "esp32"

[build]
board = "ESP32_GENERIC"
variant = "SPIRAM"
board_name = "ESP32 module with SPIRAM"

[flash]
size = "4MB"
type = "quad"

[psram]
size = "4MB"
mode = "quad"

[cpu]
mhz = 240

[verify]
min_fs_size = "1MB"
"""


def test_every_bootloader_offset_is_esptools():
    """The registry says what esptool (and the chip's ROM) say: the S3 starts its bootloader at 0x0."""
    assert chips.names()
    for key in chips.names():
        assert chips.get(key).bootloader_offset == CHIP_DEFS[key].BOOTLOADER_FLASH_OFFSET, key


@pytest.fixture
def with_esp32(tmp_path, monkeypatch):
    """The registry with an ESP32 entry added (read by the real loader)."""
    registry = tmp_path / "chips.toml"
    registry.write_text(chips.DATA.read_text() + ESP32_ENTRY)
    monkeypatch.setattr(chips, "DATA", registry)
    chips._registry.cache_clear()
    yield
    monkeypatch.undo()
    chips._registry.cache_clear()


def test_a_chip_entry_decides_where_the_merged_firmware_goes(with_esp32, tmp_path):
    assert CHIP_DEFS["esp32"].BOOTLOADER_FLASH_OFFSET == 0x1000  # the entry above is a fact
    profile = tmp_path / "esp32-n4r4.toml"
    profile.write_text(ESP32_PROFILE)
    s = settings_mod.from_config({"mpforge": {"workdir": str(tmp_path / "work"),
                                              "micropython": {"dir": str(tmp_path / "mp")}}})
    job = settings_mod.job(s, str(profile), "v1.28.0")
    built = write_fake_build(job.build_dir, app_size=64 * 1024, flash_size="4MB", chip="esp32")

    folder = collect.collect(job, tmp_path / "dist")

    info = json.loads((folder / "build-info.json").read_text())
    assert info["chip"] == "esp32" and info["merged"]["offset"] == 0x1000
    # firmware.bin starts with the bootloader, to be written at 0x1000 (no 4 KB of padding before it)
    merged = (folder / "firmware.bin").read_bytes()
    assert merged[:len(built["bootloader"])] == built["bootloader"]
    assert merged == built["firmware"][0x1000:]
    html = (folder / "index.html").read_text()
    assert "write-flash 0x1000 firmware.bin" in html
    assert "<td><code>firmware.bin</code></td><td><code>0x1000</code></td>" in html
    assert html.count('data-name="bootloader" data-offset="0x1000"') == 2  # the flash and its enlarged start
    # the separate images where the build put them, as flash_args and the browser write them
    assert "0x1000 bootloader.bin" in (folder / "flash_args").read_text().splitlines()
    parts = json.loads((folder / "manifest.json").read_text())["builds"][0]["parts"]
    assert {"path": "bootloader.bin", "offset": 0x1000} in parts
