"""`invoke detect --new-profile NAME`: a profile written from what detect read on one board,
in the shipped profiles' format (boards/esp32s3-n16r8.toml). Every value says in its
comment whether it was read from the board or inferred, and from what (docs/detect.md,
"A profile from the board"). The file is checked as a profile before it is written, is
written atomically and never over an existing file.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from mpforge.board.detect import Board
from mpforge.errors import UserError
from mpforge.model import chips, profiles
from mpforge.text import size_text

MB = 1024 * 1024
PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
PLAIN_TEXT = "ASCII letters, digits, '-' and '_', starting with a letter or digit"


def target(name: str, port_args) -> Path:
    """Where --new-profile NAME writes (a plain NAME: boards/NAME.toml; a path ending .toml:
    that file), refused before any board is touched: several ports, a name that is not
    plain, a missing folder, a file that exists."""
    given = list(dict.fromkeys(p for p in (port_args or []) if p))
    if len(given) > 1:
        raise UserError(f"--new-profile writes one profile from one board; give one --port, not {len(given)}")
    if not isinstance(name, str) or not name.strip():
        raise UserError("--new-profile needs a NAME (boards/NAME.toml) or a path ending .toml")
    if name.endswith(".toml"):
        path = Path(name).expanduser()
        stem = path.name[:-len(".toml")]
        if not PLAIN.fullmatch(stem):
            raise UserError(f"--new-profile {name!r}: the file name before .toml is the profile's name; "
                            f"use {PLAIN_TEXT}")
        if not path.parent.is_dir():
            raise UserError(f"--new-profile {name}: folder {path.parent} does not exist; make it first")
        path = path.parent.resolve() / path.name
    elif PLAIN.fullmatch(name):
        path = profiles.BOARDS_DIR / f"{name}.toml"
    else:
        raise UserError(f"--new-profile {name!r} is not a plain profile name ({PLAIN_TEXT}); "
                        "or give a path ending .toml")
    if path.exists() or path.is_symlink():
        raise _exists(path)
    return path


def _exists(path: Path) -> UserError:
    """The refusal for a file already at `path` (before the write, or made meanwhile)."""
    return UserError(f"{path} exists; --new-profile never overwrites a file: give another NAME, "
                     "or move that file away")


def _q(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=False)


def _refuse_unknowns(board: Board) -> None:
    """No profile from a board whose chip, flash size or PSRAM could not be read: it would be a guess."""
    if board.chip_key is None:
        raise UserError(f"the board on {board.port} is an {board.chip}; mpforge builds for "
                        f"{', '.join(c.name for c in map(chips.get, chips.names()))} only, so it writes "
                        "no profile for it")
    if not board.flash_known:
        raise UserError(f"the flash size of the board on {board.port} could not be read (esptool does not "
                        f"know capacity byte {board.flash_capacity_byte:02X} of JEDEC id {board.flash_id:06X}); "
                        "copy a profile from boards/ and set flash.size from the module's marking or datasheet")
    if not board.psram_known:
        raise UserError(f"the PSRAM of the board on {board.port} could not be read (PSRAM eFuse value "
                        f"{board.psram_efuse} is not in the chip registry); copy a profile from boards/ "
                        "and set [psram] from the module's marking or datasheet")


def _templates(board: Board) -> list[profiles.Profile]:
    """The profiles held against the board that are for its chip and use the port's own layout
    and embedded PSRAM, nearest first: where inferred values come from."""
    return [f.profile for f in board.fits if f.profile.chip == board.chip_key
            and f.profile.partitions is None and not f.profile.psram_external]


def _variant(board: Board) -> tuple[str, str]:
    """(BOARD_VARIANT, MICROPY_HW_BOARD_NAME) named after the hardware, as the shipped profiles'
    are (FLASH_16M_OCT_SPIRAM_OCT; '<MCU> microcontroller with 16MB of Octal-Flash & Octal-SPIRAM')."""
    mb = board.flash_size // MB
    octal = board.flash_type == "octal"
    variant = f"FLASH_{mb}M{'_OCT' if octal else ''}_" + (
        f"SPIRAM_{'OCT' if board.psram_mode == 'octal' else 'QUAD'}" if board.psram_size else "NO_SPIRAM")
    name = f"{chips.get(board.chip_key).mcu_name} microcontroller with {mb}MB of {'Octal-' if octal else ''}Flash"
    if board.psram_size:
        name += f" & {board.psram_mode.capitalize()}-SPIRAM"
    return variant, name


def _mb_text(n: int) -> str:
    return size_text(n, space=False) if n else "0"


def text(board: Board, name: str) -> str:
    """The profile's TOML, every value commented: read (from the board) or inferred (from what)."""
    _refuse_unknowns(board)
    chip = chips.get(board.chip_key)
    templates = _templates(board)
    if not templates:
        raise UserError(f"no profile in boards/ is for an {board.chip} with the port's own layout, so there "
                        "is nothing to infer the build values from; copy one by hand")
    near = templates[0]
    flash = _mb_text(board.flash_size)
    psram = _mb_text(board.psram_size)
    hardware = (f"{size_text(board.flash_size)} {board.flash_type} flash, "
                + (f"{size_text(board.psram_size)} {board.psram_mode} PSRAM" if board.psram_size else "no PSRAM"))
    title = f"{board.chip} board {board.mac}"
    variant, board_name = _variant(board)

    same_flash = next((p for p in templates if p.flash_size == board.flash_size), None)
    if same_flash:
        min_fs, fs_why = same_flash.min_fs_size, f"as {same_flash.name}, which has the same flash size"
    else:  # the port's layout leaves flash - 2 MB (the vfs starts at 0x200000), less a margin
        room = max(board.flash_size - 2 * MB, MB)
        min_fs, fs_why = room - min(MB, room // 4), "the flash less the port's 2 MB of app, less a margin"
    same_psram = next((p for p in templates if p.psram_size == board.psram_size), None)
    if same_psram:
        min_heap, heap_why = same_psram.min_psram_heap, f"as {same_psram.name}, which has the same PSRAM size"
    else:
        min_heap, heap_why = board.psram_size * 3 // 4, "three quarters of the PSRAM"

    if board.psram_size:
        psram_rows = [
            f"size = {_q(psram)}        # read: PSRAM eFuse {board.psram_efuse} (embedded, in the package)",
            f"mode = {_q(board.psram_mode)}     # read: PSRAM eFuse {board.psram_efuse}",
            f"speed = {_q(near.psram_speed)}     # inferred: as {near.name}; not in the eFuses",
        ]
    else:
        psram_rows = [
            'size = "0"         # read: PSRAM eFuse 0, none in the package. A separate PSRAM chip does',
            "                    # not show in the eFuses: if the board has one, set size and mode,",
            "                    # add external = true, and `invoke verify` proves it",
            'mode = "none"       # read: PSRAM eFuse 0',
        ]
    lines = [
        f"# {title}",
        f"# Written by `invoke detect --new-profile {name}` from the board on {board.port}:",
        f"# {board.description}, {hardware}.",
        "# 'read' values come from the chip's eFuses and flash id; 'inferred' ones are",
        "# mpforge's choice (docs/detect.md): check them. Every key is checked on load.",
        "",
        "[board]",
        f"name = {_q(title)}  # inferred: no eFuse names the board; give it its name",
        f"description = {_q(f'{board.description}: {hardware} (read by invoke detect)')}",
        f"chip = {_q(chip.key)}  # read: esptool found an {board.chip}",
        "",
        "[build]",
        "# MicroPython BOARD and the variant mpforge overlays for this hardware.",
        f"board = {_q(near.board)}  # inferred: as {near.name}, the nearest profile for this chip",
        f"variant = {_q(variant)}  # inferred: named after the hardware read",
        "# MICROPY_HW_BOARD_NAME: shown in the REPL banner and checked by verify.",
        f"board_name = {_q(board_name)}  # inferred: named after the hardware read",
        "",
        "[flash]",
        f"size = {_q(flash)}       # read: JEDEC id {board.flash_id:06X}, capacity byte "
        f"{board.flash_capacity_byte:02X}",
        f"type = {_q(board.flash_type)}       # read: the flash-type eFuse (octal = WROOM-2 \"V\" parts, 1.8 V)",
        f"freq = {_q(near.flash_freq)}        # inferred: as {near.name}; not in the eFuses",
        "",
        "[psram]",
        *psram_rows,
        "",
        "[cpu]",
        f"mhz = {near.cpu_mhz}          # inferred: as {near.name} (the chip allows "
        f"{', '.join(map(str, chip.cpu_mhz))})",
        "",
        "[verify]",
        "# What the board must show after flashing.",
        f"min_psram_heap = {_q(_mb_text(min_heap))}  # inferred: {heap_why}",
        f"min_fs_size = {_q(_mb_text(min_fs))}     # inferred: {fs_why}",
        "",
    ]
    return "\n".join(lines)


def write(board: Board, path: Path) -> Path:
    """Write the profile for `board` at `path` (from target()): checked as a profile first,
    then written atomically (a temporary file linked into place), never over a file."""
    content = text(board, path.stem)
    profiles.from_text(content, path.stem, path)  # the file loads, or nothing is written
    exists = _exists(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(content)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
            try:
                os.link(tmp, path)  # fails if the file exists: a profile made meanwhile is kept
            except FileExistsError:
                raise exists from None
            except OSError:  # no hard links here: claim the name, then swap the content in
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666 & ~umask))
                os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except FileExistsError:
        raise exists from None
    except OSError as exc:
        raise UserError(f"could not write {path}: {exc.strerror or exc}; give a path in a folder you "
                        "can write to") from None
    return path
