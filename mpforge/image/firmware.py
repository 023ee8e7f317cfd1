"""A built firmware: the images a build wrote and the offsets they go to.

Read from the build's flasher_args.json (written by ESP-IDF), so flash,
the build's image checks and dist all agree on what a firmware is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mpforge.errors import UserError
from mpforge.model import chips

def chip_name(chip_or_id) -> str:
    """'esp32s3' or 9 -> 'ESP32-S3' (esptool's own names)."""
    from esptool.targets import CHIP_DEFS

    if isinstance(chip_or_id, int):
        for rom in CHIP_DEFS.values():
            if getattr(rom, "IMAGE_CHIP_ID", None) == chip_or_id:
                return rom.CHIP_NAME
        return f"chip id {chip_or_id}"
    rom = CHIP_DEFS.get(chip_or_id)
    return rom.CHIP_NAME if rom else chip_or_id


@dataclass(frozen=True)
class Image:
    offset: int
    path: Path
    role: str  # bootloader | partition-table | app | other


@dataclass(frozen=True)
class Firmware:
    build_dir: Path
    chip: str  # as esptool names it, e.g. "esp32s3"
    flash_mode: str
    flash_size: str  # e.g. "16MB"
    flash_freq: str
    images: tuple[Image, ...]

    def image(self, role: str) -> Image:
        for image in self.images:
            if image.role == role:
                return image
        raise UserError(f"{self.build_dir}: the build has no {role} image")

    @property
    def merged(self) -> Path:
        """MicroPython's own merged image (bootloader + table + app), written at the chip's
        bootloader offset (chips.toml: 0x0 on the ESP32-S3)."""
        return self.build_dir / "firmware.bin"


# The images flasher_args.json names by role; of them, the bootloader and the app are
# ESP images with a header (the partition table is not).
ROLES = ("bootloader", "partition-table", "app")
IMAGE_ROLES = ("bootloader", "app")
# flasher_args.json says "keep" / "detect" when the build leaves the header alone
UNSPECIFIED = ("keep", "detect")


def _inside(build_dir: Path, rel, args_file: Path) -> Path:
    """An image path from flasher_args.json, only when it stays inside the build folder
    (ESP-IDF writes relative paths such as bootloader/bootloader.bin)."""
    if (not isinstance(rel, str) or not rel or Path(rel).is_absolute()
            or any(ord(ch) < 32 or ord(ch) == 127 for ch in rel)):
        raise UserError(f"{args_file}: image {str(rel)[:60]!r} is not a path inside the build folder; refusing it")
    path = build_dir / rel
    if not path.resolve().is_relative_to(build_dir.resolve()):
        raise UserError(f"{args_file}: image {rel!r} points outside the build folder; refusing it")
    return path


def load(build_dir: Path, hint: str = "") -> Firmware:
    """The firmware in a build dir; a one-line error names the build to run when it is missing."""
    args_file = build_dir / "flasher_args.json"
    if not args_file.is_file():
        raise UserError(f"no firmware built in {build_dir}", hint=hint)
    try:
        data = json.loads(args_file.read_text())
        settings = data["flash_settings"]
        files = data["flash_files"]
    except (json.JSONDecodeError, KeyError) as exc:
        raise UserError(f"{args_file}: not a flasher_args.json ({exc})") from None
    try:
        roles = {}
        for role in ROLES:
            entry = data.get(role)
            if isinstance(entry, dict) and "offset" in entry:
                roles[int(entry["offset"], 0)] = role
        entries = sorted((int(offset_text, 0), rel) for offset_text, rel in files.items())
        chip = data.get("extra_esptool_args", {}).get("chip") or chips.default().key
    except (AttributeError, TypeError, ValueError) as exc:
        raise UserError(f"{args_file}: not a flasher_args.json ({exc})") from None
    images = []
    for offset, rel in entries:
        path = _inside(build_dir, rel, args_file)
        if not path.is_file():
            raise UserError(f"{build_dir}: image {rel} is missing; run the build again")
        images.append(Image(offset, path, roles.get(offset, "other")))
    return Firmware(build_dir, chip, settings.get("flash_mode", "keep"),
                    settings.get("flash_size", "keep"), settings.get("flash_freq", "keep"),
                    tuple(images))
