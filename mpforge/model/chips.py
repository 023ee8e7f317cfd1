"""Chips as data: one entry per chip in chips.toml, read into a Chip.

Everything chip-specific (IDF target, esptool's name, the bootloader offset,
USB ids, how the PSRAM eFuse reads, Kconfig names, the banner's MCU name)
comes from here, so adding a chip is an entry in chips.toml plus overlays.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from mpforge.errors import UserError
from mpforge.model import tomllib

DATA = Path(__file__).with_name("chips.toml")
MB = 1024 * 1024


@dataclass(frozen=True)
class Chip:
    key: str  # as profiles and esptool's --chip name it, e.g. "esp32s3"
    name: str  # esptool's CHIP_NAME, e.g. "ESP32-S3"
    idf_target: str
    mcu_name: str  # MICROPY_HW_MCU_NAME
    bootloader_offset: int
    cpu_mhz: tuple[int, ...]
    kconfig_cpu_mhz: str  # the Kconfig int option (and choice prefix) for the CPU clock
    after_modes: tuple[str, ...]  # esptool's resets after a flash that the chip allows
    usb: dict[tuple[int, int], str]  # (vid, pid) -> what the port is
    usb_paths: dict[tuple[int, int], str]  # (vid, pid) -> usb-serial-jtag | usb-otg-cdc
    psram_efuse: dict[int, tuple[int, str]]  # eFuse PSRAM capability -> (bytes, mode)

    def psram(self, efuse_value: int) -> tuple[int, str]:
        """Embedded PSRAM (bytes, mode) for the chip's eFuse value; (0, "none") when unknown."""
        return self.psram_efuse.get(efuse_value, (0, "none"))


def _size(text: str) -> int:
    text = text.upper()
    return int(text[:-2]) * MB if text.endswith("MB") else int(text)


@functools.cache
def _registry() -> tuple[dict[str, Chip], str]:
    data = tomllib.loads(DATA.read_text())
    chips = {}
    for key, entry in data["chip"].items():
        chips[key] = Chip(
            key=key, name=entry["name"], idf_target=entry["idf_target"], mcu_name=entry["mcu_name"],
            bootloader_offset=entry["bootloader_offset"], cpu_mhz=tuple(entry["cpu_mhz"]),
            kconfig_cpu_mhz=entry["kconfig_cpu_mhz"], after_modes=tuple(entry.get("after_modes", ())),
            usb={(u["vid"], u["pid"]): u["kind"] for u in entry.get("usb", [])},
            usb_paths={(u["vid"], u["pid"]): u["path"] for u in entry.get("usb", [])},
            psram_efuse={int(k): (_size(v["size"]), v["mode"]) for k, v in entry.get("psram_efuse", {}).items()},
        )
    return chips, data["default"]


def names() -> list[str]:
    return list(_registry()[0])


def get(key: str) -> Chip:
    chips = _registry()[0]
    if key not in chips:
        raise UserError(f"unknown chip '{key}'; mpforge builds for {', '.join(chips)} only")
    return chips[key]


def default() -> Chip:
    """The chip of a firmware that does not name its own."""
    return get(_registry()[1])


def by_name(esptool_name: str) -> Chip | None:
    """The chip esptool calls e.g. "ESP32-S3", if it is one of ours."""
    return next((c for c in _registry()[0].values() if c.name == esptool_name), None)


def usb_ids() -> dict[tuple[int, int], str]:
    """Every chip's own USB ids -> what the port is."""
    return {ids: kind for chip in _registry()[0].values() for ids, kind in chip.usb.items()}


def usb_paths() -> dict[tuple[int, int], str]:
    """Every chip's own USB ids -> its USB path (usb-serial-jtag or usb-otg-cdc)."""
    return {ids: path for chip in _registry()[0].values() for ids, path in chip.usb_paths.items()}
