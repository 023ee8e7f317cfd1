"""The one judge of a firmware against a profile and, when one is connected, a board.

build (after make), dist (before collecting), flash and `flash --firmware`
(before any board is touched, then again with the board's fingerprint) all
ask the same questions here, so they cannot disagree:

  firmware vs profile   the chip in flasher_args.json and in each image header,
                        each image whole (checksum, SHA-256), the flash size in
                        the headers and in flasher_args.json, the partition
                        table (readable, MD5, full length, fits the flash, no
                        overlaps, apps aligned), the app fits its partition
  board vs profile      chip, flash size and type, PSRAM size and mode
  firmware vs board     every image ends inside the board's flash, and so
                        does every app slot of its table (OTA: ota_1 too)

Each rule that is broken gives one Problem: a one-line message naming what
was found and what was wanted. `forcible` problems are the ones `--force`
may override (a board or image for another flash size or PSRAM); a wrong
chip, a damaged image or an image past the end of the flash never are.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mpforge.text import size_text
from mpforge.errors import UserError
from mpforge.image import layout, partitions
from mpforge.image.firmware import IMAGE_ROLES, ROLES, UNSPECIFIED, Firmware, chip_name
from mpforge.model import chips
from mpforge.model.profiles import Profile

if TYPE_CHECKING:  # the board's fingerprint (data, not the board package)
    from mpforge.model.fingerprint import Fingerprint


@dataclass(frozen=True)
class Problem:
    """One broken rule: `rule` names it (a short label), `message` is the one line to show."""

    rule: str
    found: str
    wanted: str
    message: str
    forcible: bool = False


def _size(n: int) -> str:
    return size_text(n, space=False)


# ---- firmware vs profile ----------------------------------------------------------------

def image_problems(path: Path, chip: str, flash_size: str | None = None) -> list[Problem]:
    """An ESP image for `chip` (by the chip id in its header), whole (checksum and the
    appended SHA-256 match: esptool's loader alone accepts a slightly truncated tail),
    and, when given, with that flash size in its header."""
    from esptool.bin_image import LoadFirmwareImage
    from esptool.targets import CHIP_DEFS

    wanted_chip = chip_name(chip)
    try:
        image = LoadFirmwareImage(chip, str(path))
        checksum_ok = image.calculate_checksum() == image.checksum
    except Exception as exc:  # esptool raises FatalError and struct errors alike
        return [Problem("image", f"not an ESP image ({exc})", f"an {wanted_chip} image",
                        f"{path} is not an ESP firmware image ({exc}); wanted an {wanted_chip} image")]
    chip_id = getattr(image, "chip_id", None)
    if chip_id != CHIP_DEFS[chip].IMAGE_CHIP_ID:
        found = chip_name(chip_id)
        return [Problem("image chip", found, wanted_chip,
                        f"{path} is an image for an {found}, not an {wanted_chip}")]
    found_problems = []
    if not checksum_ok:
        found_problems.append(Problem(
            "image checksum", f"checksum {image.checksum:#04x}", f"{image.calculate_checksum():#04x}",
            f"{path} is damaged (its checksum is {image.checksum:#04x}, its content sums to "
            f"{image.calculate_checksum():#04x})"))
    if getattr(image, "append_digest", False) and image.stored_digest != image.calc_digest:
        found_problems.append(Problem(
            "image SHA-256", f"SHA-256 {image.stored_digest.hex()[:12]}", image.calc_digest.hex()[:12],
            f"{path} is truncated or damaged (it says SHA-256 {image.stored_digest.hex()[:12]}..., "
            f"its content has {image.calc_digest.hex()[:12]}...)"))
    if flash_size:
        sizes = {code: label for label, code in CHIP_DEFS[chip].FLASH_SIZES.items()}
        found = sizes.get(image.flash_size_freq & 0xF0, f"code {image.flash_size_freq & 0xF0:#x}")
        if found != flash_size:
            found_problems.append(Problem(
                "header flash size", found, flash_size,
                f"{path} says {found} flash in its header, the profile needs {flash_size}", forcible=True))
    return found_problems


def table_problems(path: Path, flash_size: int) -> tuple[list[Problem], list[partitions.Partition]]:
    """(problems, partitions) of a binary partition table for a flash of `flash_size` bytes."""
    data = path.read_bytes()
    try:
        table = partitions.parse(data)
    except ValueError as exc:
        return [Problem("partition table", f"not a table ({exc})", "an ESP partition table",
                        f"{path} is not a partition table ({exc})")], []
    found = []
    md5_at = len(table) * partitions.ENTRY.size
    entry = data[md5_at:md5_at + partitions.ENTRY.size]
    if entry[:2] == partitions.MD5_MAGIC:
        stored, computed = entry[16:32].hex(), hashlib.md5(data[:md5_at]).hexdigest()
        if stored != computed:
            found.append(Problem("table MD5", stored[:12], computed[:12],
                                 f"{path} is truncated or damaged (it says MD5 {stored[:12]}..., "
                                 f"its entries have {computed[:12]}...)"))
    if len(data) < partitions.MAX_SIZE:  # gen_esp32part.py pads every table to 0xC00 bytes
        found.append(Problem("table length", f"{len(data)} bytes", f"{partitions.MAX_SIZE} bytes",
                             f"{path} is truncated ({len(data)} bytes, a partition table has "
                             f"{partitions.MAX_SIZE})"))
    for text in partitions.problems(table, flash_size):
        found.append(Problem("table layout", text, f"fits {_size(flash_size)}, no overlaps, apps aligned",
                             f"{path}: {text}", forcible="past the" in text))
    return found, table


def app_problems(app: Path, table: list[partitions.Partition], offset: int | None = None) -> list[Problem]:
    """The table has an app partition and the app image fits in it: the one at the app's
    own offset (flasher_args.json: ota_0 in an OTA layout), else the one the bootloader starts."""
    part = layout.app_slot(table, offset) if offset is not None else partitions.first_app(table)
    if part is None:
        where = f" at {offset:#x}, where the app goes" if offset is not None else ""
        return [Problem("app partition", f"no app partition{where}", "a factory or ota app partition",
                        f"the partition table has no app partition{where}; wanted a factory or ota app")]
    size = app.stat().st_size
    if size > part.size:
        return [Problem("app size", f"{size} bytes", f"at most {part.size} bytes",
                        f"the app ({size} bytes) does not fit its partition {part.label} "
                        f"({part.size} bytes)")]
    return []


def firmware_problems(fw: Firmware, profile: Profile) -> list[Problem]:
    """Everything wrong with a built firmware for this profile, before any board is involved."""
    from esptool.targets import CHIP_DEFS

    wanted_chip = chip_name(profile.chip)
    if fw.chip != profile.chip:
        found = chip_name(fw.chip) if fw.chip in CHIP_DEFS else f"unknown chip {fw.chip!r}"
        return [Problem("chip", found, wanted_chip,
                        f"the firmware in {fw.build_dir} is for an {found}, not an {wanted_chip}")]
    roles = {image.role: image for image in fw.images}
    missing = [role for role in ROLES if role not in roles]
    if missing:
        return [Problem("images", f"no {', '.join(missing)} image", ", ".join(ROLES),
                        f"{fw.build_dir}: the build has no {', '.join(missing)} image; wanted "
                        f"{', '.join(ROLES)}")]
    found: list[Problem] = []
    boot, chip_boot = roles["bootloader"].offset, chips.get(profile.chip).bootloader_offset
    if boot != chip_boot:  # the ROM starts the bootloader only there (model/chips.toml)
        found.append(Problem("bootloader offset", f"{boot:#x}", f"{chip_boot:#x}",
                             f"{fw.build_dir}: the bootloader goes to {boot:#x}; an {wanted_chip} "
                             f"starts it from {chip_boot:#x}"))
    if fw.flash_size not in UNSPECIFIED and fw.flash_size != profile.flash_size_label:
        found.append(Problem("flash size", fw.flash_size, profile.flash_size_label,
                             f"the firmware in {fw.build_dir} was built for {fw.flash_size} flash; "
                             f"profile {profile.name} has {profile.flash_size_label}", forcible=True))
    for role in IMAGE_ROLES:
        found += image_problems(roles[role].path, profile.chip, profile.flash_size_label)
    table_found, table = table_problems(roles["partition-table"].path, profile.flash_size)
    found += table_found
    if table:
        found += app_problems(roles["app"].path, table, roles["app"].offset)
    return found


# ---- board vs profile -------------------------------------------------------------------

def board_problems(board: "Fingerprint", profile: Profile) -> list[Problem]:
    """Where the board differs from what the profile says the hardware is."""
    wanted_chip = chip_name(profile.chip)
    if board.chip != wanted_chip:
        return [Problem("chip", board.chip, wanted_chip,
                        f"the board is an {board.chip}; profile {profile.name} is for an {wanted_chip}")]
    found = []
    if board.flash_size and board.flash_size < profile.flash_size:
        found.append(Problem("flash too small", _size(board.flash_size), profile.flash_size_label,
                             f"flash too small: the board has {_size(board.flash_size)}, "
                             f"the profile needs {profile.flash_size_label}", forcible=True))
    if board.flash_type != profile.flash_type:
        found.append(Problem("flash type", board.flash_type, profile.flash_type,
                             f"flash type: the board has {board.flash_type} flash, the profile "
                             f"needs {profile.flash_type}", forcible=True))
    needs = f"{_size(profile.psram_size)} {profile.psram_mode} PSRAM"
    if profile.psram_external:  # a separate chip is not in the eFuses: verify sees it in the heap
        pass
    elif profile.psram_size and board.psram_size < profile.psram_size:
        has = f"{_size(board.psram_size)} {board.psram_mode} PSRAM" if board.psram_size else "no PSRAM"
        rule = "PSRAM too small" if board.psram_size else "PSRAM missing"
        found.append(Problem(rule, has, needs, f"{rule}: the board has {has}, the profile needs {needs}",
                             forcible=True))
    elif profile.psram_size and board.psram_mode != profile.psram_mode:
        found.append(Problem("PSRAM mode", board.psram_mode, profile.psram_mode,
                             f"PSRAM mode: the board has {board.psram_mode} PSRAM, the profile needs "
                             f"{profile.psram_mode}", forcible=True))
    return found


# ---- firmware vs board ------------------------------------------------------------------

def placement_problems(fw: Firmware, board: "Fingerprint") -> list[Problem]:
    """Every image ends inside the board's flash (esptool would refuse too, but mid-way)."""
    if not board.flash_size:
        return []
    found = []
    for image in fw.images:
        end = image.offset + image.path.stat().st_size
        if end > board.flash_size:
            found.append(Problem("image past flash end", f"ends at {end:#x}",
                                 f"within {board.flash_size:#x}",
                                 f"{image.path.name} ({image.path.stat().st_size} bytes at "
                                 f"{image.offset:#x}) ends at {end:#x}, past the end of the "
                                 f"board's {_size(board.flash_size)} flash ({board.flash_size:#x})"))
    # Every app slot of the table must be on the chip too: an OTA update writes the
    # other slot (ota_1 of a 16 MB layout lies past the end of an 8 MB board).
    tables = [i for i in fw.images if i.role == "partition-table"]
    try:
        table = partitions.parse(tables[0].path.read_bytes()) if tables else []
    except ValueError:
        table = []  # firmware_problems names the unreadable table
    for slot in layout.apps(table):
        if slot.end > board.flash_size:
            found.append(Problem("app slot past flash end", f"{slot.label} ends at {slot.end:#x}",
                                 f"within {board.flash_size:#x}",
                                 f"app partition {slot.label} ({slot.offset:#x} + {_size(slot.size)}) ends at "
                                 f"{slot.end:#x}, past the end of the board's {_size(board.flash_size)} flash; "
                                 "that slot could never run"))
    return found


def judge(fw: Firmware, profile: Profile, board: "Fingerprint | None" = None) -> list[Problem]:
    """Every problem of this firmware for this profile and, when given, this board."""
    found = firmware_problems(fw, profile)
    if board is not None:
        found += board_problems(board, profile) + placement_problems(fw, board)
    return found


def blocking(problems: list[Problem], force: bool = False) -> list[Problem]:
    """The problems that stop the step: all of them, or with --force those it may not override."""
    return [p for p in problems if not (force and p.forcible)]


def refuse(problems: list[Problem], prefix: str = "", suffix: str = "") -> None:
    """Raise the one-line error for `problems` (the first in full, the count of the rest)."""
    if not problems:
        return
    more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
    raise UserError(f"{prefix}{problems[0].message}{more}{suffix}")
