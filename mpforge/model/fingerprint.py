"""What a board is: its fingerprint (chip, flash size and type, embedded PSRAM and MAC,
from eFuses and the flash's JEDEC id). Pure data, so that the transport that reads it,
the policy that refuses a board and the image judge all depend on it and not on each
other."""

from __future__ import annotations

from dataclasses import dataclass

from mpforge.text import size_text


@dataclass(frozen=True)
class Fingerprint:
    """What the chip says it is (eFuses and the flash chip's JEDEC id)."""

    chip: str  # esptool's name, e.g. "ESP32-S3"
    flash_size: int  # bytes, 0 if unknown
    flash_type: str  # quad | octal
    psram_size: int  # bytes of embedded PSRAM, 0 for none
    psram_mode: str  # none | quad | octal
    mac: str
    psram_efuse: int | None = None  # the raw PSRAM capability eFuse; None: the chip has no such field

    def hardware(self) -> str:
        flash = f"{size_text(self.flash_size, space=False) if self.flash_size else 'unknown-size'} {self.flash_type} flash"
        psram = (f"{size_text(self.psram_size, space=False)} {self.psram_mode} PSRAM" if self.psram_size
                 else "no PSRAM")
        return f"{flash}, {psram}"

    def describe(self) -> str:
        return f"{self.chip} {self.mac}, {self.hardware()}"
