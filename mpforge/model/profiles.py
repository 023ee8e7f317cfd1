"""Board profiles: one TOML file per board in boards/.

A profile says what the hardware is (flash, PSRAM, CPU), which MicroPython
board and variant to build for it, and what verify must see on the board.
It is validated on load; every problem is one line naming the file and key.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mpforge import PROJECT_ROOT
from mpforge.errors import UserError
from mpforge.model import chips, read_toml, tomllib
from mpforge.text import size_text

if TYPE_CHECKING:  # for the annotation only: layout imports this module
    from mpforge.image import layout

BOARDS_DIR = PROJECT_ROOT / "boards"

MB = 1024 * 1024
FLASH_TYPES = ("quad", "octal")
PSRAM_MODES = ("none", "quad", "octal")
FLASH_FREQS = ("20m", "40m", "80m", "120m")
PSRAM_SPEEDS = ("40m", "80m", "120m")

# Text that reaches generated CMake and sdkconfig files (mpforge/build/overlay.py)
# must be plain: MicroPython's BOARD and BOARD_VARIANT are ASCII identifiers
# (they name files and CMake list items), and MICROPY_HW_BOARD_NAME sits in
# CMake's legacy NAME="..." quoting, which has no escapes: a quote, backslash,
# $, ;, # or a parenthesis there ends the string or runs CMake (tried with
# CMake 3.25 in tests/test_hostile_profiles.py). No field may hold a control
# character (a newline ends a comment line in a generated file).
VARIANT_RE = re.compile(r"[A-Z0-9_]+")
BOARD_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
BOARD_NAME_RE = re.compile(r"[A-Za-z0-9 _.,:/+&-]+")
BOARD_NAME_ALLOWED = "ASCII letters, digits, spaces and _ . , : / + & -"


def has_control(text: str) -> bool:
    """A control character or a line/paragraph separator: anything that can break a line."""
    return any(ord(ch) < 32 or 127 <= ord(ch) < 160 or ch in "\u2028\u2029" for ch in text)


# Every key a profile may have, per table: (type, required).
SCHEMA: dict[str, dict[str, tuple[type | tuple[type, ...], bool]]] = {
    "board": {"name": (str, True), "description": (str, False), "chip": (str, True)},
    "build": {"board": (str, True), "variant": (str, True), "board_name": (str, True)},
    "flash": {"size": (str, True), "type": (str, True), "freq": (str, False)},
    "psram": {"size": (str, False), "mode": (str, True), "speed": (str, False),
              "external": (bool, False)},
    "cpu": {"mhz": (int, True)},
    "verify": {"min_psram_heap": (str, False), "min_fs_size": (str, True)},
    "frozen": {"path": (str, False)},
    "c_modules": {"request": (list, False)},
    "partitions": {"app": (str, False), "ota": (bool, False), "fs": (str, False), "csv": (str, False)},
}


@dataclass(frozen=True)
class Profile:
    """A validated board profile."""

    name: str  # the file stem, e.g. "esp32s3-n16r8"
    path: Path
    title: str  # human name of the board
    description: str
    chip: str
    board: str  # MicroPython BOARD
    variant: str  # MicroPython BOARD_VARIANT
    board_name: str  # MICROPY_HW_BOARD_NAME, shown in the REPL banner
    flash_size: int  # bytes
    flash_type: str  # quad | octal
    flash_freq: str
    psram_size: int  # bytes, 0 without PSRAM
    psram_mode: str  # none | quad | octal
    psram_speed: str
    cpu_mhz: int
    min_psram_heap: int  # bytes verify must find in the PSRAM heap
    min_fs_size: int  # bytes verify must find in the filesystem
    frozen: Path | None = None  # a folder of modules or a manifest.py to freeze
    partitions: "layout.Layout | None" = None  # [partitions]; None: the port's own layout
    psram_external: bool = False  # PSRAM in its own chip: absent from the eFuses, verify proves it
    c_modules_request: tuple[Path, ...] = ()  # [c_modules] request: asked for, never used unconfirmed

    @property
    def flash_size_label(self) -> str:
        """The size as esptool and Kconfig spell it, e.g. '16MB'."""
        return size_text(self.flash_size, space=False)

    @property
    def digest(self) -> str:
        """A hash of the profile file: builds depend on it."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def parse_size(text: str, where: str) -> int:
    """'16MB', '512KB' or a byte count as a string -> bytes."""
    t = text.strip().upper().replace(" ", "")
    for suffix, factor in (("MB", MB), ("KB", 1024), ("B", 1)):
        if t.endswith(suffix):
            number = t[: -len(suffix)]
            break
    else:
        number, factor = t, 1
    try:
        value = float(number)
    except ValueError:
        raise UserError(f"{where}: '{text}' is not a size (write e.g. '16MB' or '512KB')") from None
    if value < 0:
        raise UserError(f"{where}: '{text}' is negative")
    return int(value * factor)


def available() -> list[str]:
    """Names of the profiles in boards/."""
    return sorted(p.stem for p in BOARDS_DIR.glob("*.toml"))


def loadable() -> tuple[list[Profile], list[str]]:
    """Every profile in boards/ that loads, and the one-line problem of each that does not
    (the candidates a board is held against; `invoke boards` shows the broken ones)."""
    loaded, broken = [], []
    for name in available():
        try:
            loaded.append(load(name))
        except UserError as exc:
            broken.append(str(exc))
    return loaded, broken


def profile_path(name: str) -> Path:
    """The file for a profile name, or a path given directly."""
    candidate = Path(name)
    if candidate.suffix == ".toml" and candidate.exists():
        return candidate.resolve()
    if candidate.suffix == ".toml" or "/" in name or has_control(name):
        raise UserError(f"profile {name!r} is not a .toml file that exists; give one, or a name from boards/ "
                        f"({', '.join(available()) or 'none'})")
    path = BOARDS_DIR / f"{name}.toml"
    if not path.exists():
        raise UserError(
            f"unknown profile '{name}'; available: {', '.join(available()) or 'none'} "
            f"(or add boards/{name}.toml)"
        )
    return path


def load(name: str) -> Profile:
    """Load and validate a profile by name (boards/NAME.toml) or path."""
    path = profile_path(name)
    return _validate(path, read_toml(path))


def _frozen_folder(path: Path, value: str | None) -> Path | None:
    """[frozen] path: a folder of modules only. A manifest.py is Python that the build runs,
    and a profile is data shared between people, so a manifest comes only from --frozen."""
    if not value:
        return None
    if value.lower().endswith(".py"):
        raise UserError(f"{path}: 'frozen.path' is {value!r}, a .py file; a profile may name only a folder of "
                        "modules, because a manifest.py runs as Python during the build: pass your own "
                        "manifest with `invoke build --frozen FILE`")
    return (path.parent / value).resolve()


def _c_module_request(path: Path, value: list) -> tuple[Path, ...]:
    """[c_modules] request: paths (relative to the profile) of C modules the profile asks for.
    Only a request: a micropython.cmake runs as code in CMake, so the build takes a C module
    only from the user's own --c-module or build.c_modules (mpforge/build/cmodules.py)."""
    if not all(isinstance(v, str) and v and not has_control(v) for v in value):
        raise UserError(f"{path}: 'c_modules.request' must be a list of paths (texts)")
    return tuple((path.parent / v).resolve() for v in value)


def from_text(text: str, name: str, where: Path) -> Profile:
    """A profile from TOML text kept elsewhere (a dist folder's build-info.json)."""
    if not isinstance(name, str) or not name or has_control(name) or "/" in name or "\\" in name or name.startswith("."):
        raise UserError(f"{where}: the profile name {str(name)[:60]!r} is not a plain name")
    if not isinstance(text, str):
        raise UserError(f"{where}: the profile in it is not TOML text")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{where}: the profile in it is not valid TOML: {exc}") from None
    return _validate(where.with_name(f"{name}.toml"), data, read_files=False)


def _validate(path: Path, data: dict, read_files: bool = True) -> Profile:
    where = str(path)
    if has_control(path.stem):
        raise UserError(f"{where!r}: the profile's file name holds a control character; rename the file")
    for table in data:
        if table not in SCHEMA:
            raise UserError(f"{where}: unknown table [{table}]; expected one of {', '.join(SCHEMA)}")
        if not isinstance(data[table], dict):
            raise UserError(f"{where}: '{table}' must be a table ([{table}])")
    for table, keys in SCHEMA.items():
        section = data.get(table, {})
        for key in section:
            if key not in keys:
                raise UserError(
                    f"{where}: unknown key '{table}.{key}'; [{table}] takes {', '.join(keys)}"
                )
        for key, (kind, required) in keys.items():
            if key not in section:
                if required:
                    raise UserError(f"{where}: missing key '{table}.{key}'")
                continue
            if not isinstance(section[key], kind) or (isinstance(section[key], bool) and kind is not bool):
                raise UserError(f"{where}: '{table}.{key}' must be a {kind.__name__}")
            if isinstance(section[key], str) and has_control(section[key]):
                raise UserError(f"{where}: '{table}.{key}' holds a control character (a newline, tab, NUL, ...); "
                                "write it on one line without them")

    def get(table: str, key: str, default=None):
        return data.get(table, {}).get(key, default)

    def key_error(key: str, message: str) -> UserError:
        return UserError(f"{where}: '{key}' {message}")

    def choice(table: str, key: str, choices, default=None):
        """A value that must be one of `choices` (text ones compared in lower case)."""
        value = get(table, key, default)
        value = value.lower() if isinstance(value, str) and default else value
        if value not in choices:
            shown = f"'{value}'" if isinstance(value, str) else value
            raise key_error(f"{table}.{key}", f"is {shown}; expected one of {', '.join(map(str, choices))}")
        return value

    chip = get("board", "chip")
    if chip not in chips.names():
        raise key_error("board.chip", f"is '{chip}'; mpforge builds for {', '.join(chips.names())} only")
    cpu_choices = chips.get(chip).cpu_mhz

    flash_size = parse_size(get("flash", "size"), f"{where}: 'flash.size'")
    if flash_size < 2 * MB or flash_size > 32 * MB or flash_size & (flash_size - 1):
        raise key_error("flash.size", "must be a power of two from 2MB to 32MB")
    flash_type = choice("flash", "type", FLASH_TYPES)
    flash_freq = choice("flash", "freq", FLASH_FREQS, "80m")

    psram_mode = choice("psram", "mode", PSRAM_MODES)
    psram_size = parse_size(get("psram", "size", "0"), f"{where}: 'psram.size'")
    if psram_mode == "none" and get("psram", "external", False):
        raise key_error("psram.external", "is true, but psram.mode is 'none'")
    if psram_mode == "none" and psram_size:
        raise key_error("psram.size", "must be 0 (or absent) when psram.mode is 'none'")
    if psram_mode != "none" and (psram_size < MB or psram_size > 32 * MB or psram_size & (psram_size - 1)):
        raise key_error("psram.size", "must be a power of two from 1MB to 32MB")
    psram_speed = choice("psram", "speed", PSRAM_SPEEDS, "80m")

    cpu_mhz = choice("cpu", "mhz", cpu_choices)

    min_psram_heap = parse_size(get("verify", "min_psram_heap", "0"), f"{where}: 'verify.min_psram_heap'")
    if min_psram_heap > psram_size:
        raise key_error("verify.min_psram_heap", f"is {get('verify', 'min_psram_heap')}, larger than "
                                                 f"psram.size {get('psram', 'size', '0')}")
    min_fs_size = parse_size(get("verify", "min_fs_size"), f"{where}: 'verify.min_fs_size'")
    if min_fs_size >= flash_size:
        raise key_error("verify.min_fs_size", "must be smaller than flash.size")

    def plain(key: str, pattern, advice: str) -> str:
        """A [build] value written into CMake or a file name: only its plain form is accepted."""
        value = get("build", key)
        if not pattern.fullmatch(value):
            raise key_error(f"build.{key}", f"is {value!r}; {advice}")
        return value

    variant = plain("variant", VARIANT_RE, "use ASCII upper-case letters, digits and '_' only")
    board = plain("board", BOARD_RE, "a MicroPython board name is ASCII letters, digits, "
                                     "'_' and '-' (e.g. ESP32_GENERIC_S3)")
    board_name = plain("board_name", BOARD_NAME_RE, f"use {BOARD_NAME_ALLOWED} only "
                                                    "(no quotes, backslashes, parentheses, $, # or ;)")

    from mpforge.image import layout  # the one module that knows partition layouts

    parts = (layout.from_section(data["partitions"], where, flash_size, min_fs_size,
                                 path.parent if read_files else None, parse_size)
             if "partitions" in data else None)

    return Profile(
        name=path.stem,
        path=path,
        title=get("board", "name"),
        description=get("board", "description", ""),
        chip=chip,
        board=board,
        variant=variant,
        board_name=board_name,
        flash_size=flash_size,
        flash_type=flash_type,
        flash_freq=flash_freq,
        psram_size=psram_size,
        psram_mode=psram_mode,
        psram_speed=psram_speed,
        cpu_mhz=cpu_mhz,
        min_psram_heap=min_psram_heap,
        min_fs_size=min_fs_size,
        frozen=_frozen_folder(path, get("frozen", "path")),
        c_modules_request=_c_module_request(path, get("c_modules", "request", [])),
        partitions=parts,
        psram_external=get("psram", "external", False),
    )
