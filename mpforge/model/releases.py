"""The supported MicroPython releases: pinned commit, ESP-IDF and overlay line.

The built-in releases are data (releases.toml next to this file; facts in
docs/micropython-esp32.md §5): the IDF each release was tested with in
MicroPython's own CI, the oldest IDF its component manifest accepts, and the
submodules the esp32 port needs. A tag that no longer points at the pinned
commit is an error.

Users can pin a release mpforge does not know yet (or override one) with a
TOML file named by the ``releases_file`` setting, read by the same validator:

    [[release]]
    version = "v1.29.0"
    commit = "<40 hex digits>"
    idf = "v5.5.2"
    line = "v1.26"
    idf_commit = "<40 hex digits>"   # optional: pins the IDF tag too
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mpforge.errors import UserError
from mpforge.model import lines, read_toml

BUILT_IN = Path(__file__).with_name("releases.toml")
BASE_SUBMODULES = ("lib/berkeley-db-1.xx", "lib/micropython-lib")
_KEYS = {"version", "commit", "idf", "idf_min", "line", "submodules", "idf_commit"}
_HASH = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class Release:
    version: str  # the git tag, e.g. "v1.28.0"
    commit: str  # the commit the tag must point at ("" = unpinned: locked on first fetch, model/taglock.py)
    idf: str  # the ESP-IDF tag it builds with, e.g. "v5.5.1"
    idf_min: str  # the oldest IDF the release accepts
    line: str  # overlay folder in overlays/
    submodules: tuple[str, ...] = BASE_SUBMODULES
    idf_commit: str = ""  # the commit the IDF tag must point at ("" = IDF_COMMITS)

    @property
    def short(self) -> str:
        return self.commit[:7] or "unpinned"

    @property
    def facts(self) -> lines.Line:
        """What the release's line is like (overlays/<line>/overlay.toml)."""
        return lines.load(self.line)

    @property
    def vfs_at_boot(self) -> bool:
        """The firmware registers a vfs at boot when its table has none: the line's fact; for a
        release of no known line (a dist's), whether a line with that fact starts at or before it."""
        if self.line:
            return self.facts.vfs_at_boot
        starts = [version_tuple(r.version) for r in RELEASES.values() if r.facts.vfs_at_boot]
        return bool(starts) and version_tuple(self.version) >= min(starts)


    @property
    def mcu_name(self) -> str:
        """MICROPY_HW_MCU_NAME as the line's firmware reports it ("" = the chip's, chips.toml); for a
        release of no known line (a dist's), that of the newest known release at or before it."""
        if self.line:
            return self.facts.mcu_name
        older = [r for r in RELEASES.values() if version_tuple(r.version) <= version_tuple(self.version)]
        return max(older, key=lambda r: version_tuple(r.version)).facts.mcu_name if older else ""


_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?$")


def version_tuple(text: str) -> tuple[int, int, int]:
    """'v5.5.1' / '5.5' -> (5, 5, 1) / (5, 5, 0)."""
    m = _VERSION.match(text.strip())
    if not m:
        raise ValueError(text)
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def is_version(text) -> bool:
    """'v1.28.0', '1.28' and the like (what normalise() turns into a tag)."""
    return isinstance(text, str) and _VERSION.match(text.strip()) is not None


def normalise(version: str) -> str:
    """Accept '1.28', 'v1.28', '1.28.0' for 'v1.28.0'."""
    try:
        major, minor, patch = version_tuple(version)
    except ValueError:
        return version
    return f"v{major}.{minor}.{patch}"


def _read(path: Path) -> dict:
    return read_toml(path, missing=f"releases_file {path} does not exist")


def _releases(path: Path, data: dict) -> dict[str, Release]:
    """The [[release]] entries of a releases file, each checked."""
    known_lines = lines.names()
    result = {}
    entries = data.get("release", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise UserError(f"{path}: 'release' must be a list of [[release]] tables (see README, Supported releases)")
    for i, entry in enumerate(entries):
        where = f"{path}: release #{i + 1}"
        unknown = set(entry) - _KEYS
        if unknown:
            raise UserError(f"{where}: unknown key '{sorted(unknown)[0]}'")
        for key, value in entry.items():
            wanted = list if key == "submodules" else str
            if not isinstance(value, wanted) or (wanted is list and not all(isinstance(v, str) for v in value)):
                kind = "a list of paths" if wanted is list else "a string"
                raise UserError(f"{where}: '{key}' must be {kind}, not {value!r}")
        for key in ("version", "idf", "idf_min"):
            if key in entry and not is_version(entry[key]):
                raise UserError(f"{where}: '{key}' is '{entry[key]}', not a version like v1.29.0")
        try:
            version = normalise(entry["version"])
            commit, idf, line = entry.get("commit", ""), normalise(entry["idf"]), entry["line"]
        except KeyError as exc:
            raise UserError(f"{where}: missing key '{exc.args[0]}'") from None
        idf_commit = entry.get("idf_commit", "")
        for key, value in (("commit", commit or "0" * 40), ("idf_commit", idf_commit or "0" * 40)):
            if not _HASH.fullmatch(value):
                raise UserError(f"{where}: '{key}' is '{value}'; it must be the full 40-digit hash "
                                "(lower-case hex)")
        if line not in known_lines:
            raise UserError(f"{where}: 'line' must be one of {', '.join(known_lines)}")
        submodules = tuple(entry.get("submodules", BASE_SUBMODULES))
        result[version] = Release(version, commit, idf, normalise(entry.get("idf_min", idf)), line, submodules,
                                  idf_commit)
    return result


_DATA = _read(BUILT_IN)
RELEASES: dict[str, Release] = _releases(BUILT_IN, _DATA)
IDF_COMMITS: dict[str, str] = dict(_DATA.get("idf_commits", {}))
DEFAULT: str = _DATA["default"]


def table(releases_file: str | Path | None = None) -> dict[str, Release]:
    """The built-in table, extended or overridden by the user's releases file."""
    result = dict(RELEASES)
    if releases_file:
        path = Path(releases_file)
        result.update(_releases(path, _read(path)))
    return result


def get(version: str, releases_file: str | Path | None = None) -> Release:
    """The release for a version, or a one-line error listing the supported ones."""
    known = table(releases_file)
    release = known.get(normalise(version))
    if release is None:
        raise UserError(
            f"unknown MicroPython release '{version}'; supported: {', '.join(known)} "
            "(pin another one with the releases_file setting)"
        )
    return release
