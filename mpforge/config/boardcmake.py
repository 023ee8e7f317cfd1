"""The board's sdkconfig defaults list, as the port's CMake build computes it.

ports/esp32/CMakeLists.txt includes the board's mpconfigboard.cmake and (from
v1.24) the variant's mpconfigvariant_<V>.cmake; together they set
SDKCONFIG_DEFAULTS (files, later ones win) and MICROPY_DEF_BOARD (compile
definitions, among them MICROPY_HW_BOARD_NAME). Rather than guess what those
files do, mpforge runs them with real CMake in script mode
(mpforge/config/cmake/board_defaults.cmake), which mimics the top of the port's
CMakeLists.txt per release line (docs/micropython-esp32.md
§1, §2). No ESP-IDF and no toolchain are needed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mpforge.errors import UserError

STEP = "config"
SCRIPT = Path(__file__).resolve().parent / "cmake" / "board_defaults.cmake"
_BOARD_NAME_DEF = re.compile(r'^MICROPY_HW_BOARD_NAME="(.*)"$')
_BOARD_NAME_H = re.compile(r'^\s*#define\s+MICROPY_HW_BOARD_NAME\s+"(.*)"', re.M)
_CMAKE_ERROR = re.compile(r"CMake Error[^\n]*:[ \t]*\n?(.+?)(?:\n[ \t]*\n|\Z)", re.S)


@dataclass(frozen=True)
class BoardDefaults:
    """What the board (and variant) cmake files set."""

    port_dir: Path
    entries: tuple[str, ...]  # SDKCONFIG_DEFAULTS as written (relative to the port dir, or absolute)
    def_board: tuple[str, ...]  # MICROPY_DEF_BOARD items
    target: str  # IDF_TARGET

    @property
    def files(self) -> tuple[Path, ...]:
        """The defaults files, in order; relative entries resolve against ports/esp32, as file(READ) does there."""
        return tuple(p if p.is_absolute() else self.port_dir / p for p in map(Path, self.entries))

    @property
    def board_name(self) -> str | None:
        """MICROPY_HW_BOARD_NAME from MICROPY_DEF_BOARD (the last one wins, as with -D flags)."""
        names = [m.group(1) for m in map(_BOARD_NAME_DEF.match, self.def_board) if m]
        return names[-1] if names else None


def cmake_program(path: str | None = None) -> str:
    """The cmake to run: on the given search path (the IDF environment's, where IDF installs one),
    else on ours, else beside this Python (`pip install cmake` puts it there)."""
    beside = Path(sys.executable).parent / "cmake"
    found = ((shutil.which("cmake", path=path) if path else None) or shutil.which("cmake")
             or (str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None))
    if not found:
        raise UserError(STEP, "cmake is not installed; install CMake 3.16 or newer "
                        "(your OS package, or `pip install cmake`) and run again")
    return found


def header_board_name(board_dir: Path) -> str | None:
    """The board's default name from mpconfigboard.h (used when no variant sets one)."""
    try:
        m = _BOARD_NAME_H.search((board_dir / "mpconfigboard.h").read_text(errors="replace"))
    except OSError:
        return None
    return m.group(1) if m else None


def evaluate(port_dir: Path, board: str, variant: str, *, check_variant: bool,
             idf_version: str = "", cmake: str | None = None) -> BoardDefaults:
    """Run the board's cmake files as the port does; one-line UserError where the port's build would stop.

    check_variant: the port stops on a variant without mpconfigvariant_<V>.cmake and
    includes that file (v1.24 on); without it only mpconfigboard.cmake runs (v1.22-v1.23).
    idf_version: '5.2.2' or 'v5.2.2'; decides SDKCONFIG_IDF_VERSION_SPECIFIC as the port does.
    """
    board_dir = port_dir / "boards" / board
    if (port_dir / "boards").is_dir() and not board_dir.is_dir():
        raise UserError(STEP, f"board {board} (the profile's build.board) is not in {port_dir / 'boards'}; "
                        "set build.board to one of the port's boards")
    if not (board_dir / "mpconfigboard.cmake").is_file():
        raise UserError(STEP, f"{board_dir} has no mpconfigboard.cmake; is {port_dir} a MicroPython esp32 port "
                        f"and {board} one of its boards?")
    with tempfile.TemporaryDirectory(prefix="mpforge-cmake-") as tmp:
        out = Path(tmp) / "board.txt"
        cmd = [cmake or cmake_program(),
               f"-DMICROPY_PORT_DIR={port_dir}", f"-DMICROPY_BOARD_DIR={board_dir}",
               f"-DMICROPY_BOARD_VARIANT={variant}", f"-DMPFORGE_IDF_VERSION={idf_version.lstrip('v')}",
               f"-DMPFORGE_CHECK_VARIANT={'ON' if check_variant else 'OFF'}", f"-DMPFORGE_OUTPUT={out}",
               "-P", str(SCRIPT)]
        env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS",)}
        result = subprocess.run(cmd, cwd=port_dir, env=env, capture_output=True, text=True,
                                stdin=subprocess.DEVNULL)
        if result.returncode != 0 or not out.is_file():
            raise UserError(STEP, f"CMake stopped evaluating {board_dir.relative_to(port_dir)}: "
                            f"{_cmake_error(result.stderr)}")
        lines = out.read_text().splitlines()
    entries = tuple(v for k, _, v in (l.partition(" ") for l in lines) if k == "defaults" and v)
    def_board = tuple(v for k, _, v in (l.partition(" ") for l in lines) if k == "def_board" and v)
    target = next((v for k, _, v in (l.partition(" ") for l in lines) if k == "target"), "")
    if not entries:
        raise UserError(STEP, f"{board_dir.relative_to(port_dir)}/mpconfigboard.cmake sets no SDKCONFIG_DEFAULTS")
    result = BoardDefaults(port_dir, entries, def_board, target)
    for entry, path in zip(entries, result.files):
        if not path.is_file():
            raise UserError(STEP, f"SDKCONFIG_DEFAULTS of {board} lists {entry}, which does not exist in {port_dir}")
    return result


def _cmake_error(stderr: str) -> str:
    m = _CMAKE_ERROR.search(stderr)
    text = m.group(1) if m else (stderr.strip().splitlines() or ["cmake failed without a message"])[-1]
    return " ".join(text.split())
