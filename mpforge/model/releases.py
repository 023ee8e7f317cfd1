"""The supported MicroPython releases: pinned commit, ESP-IDF and overlay line.

Facts from shared/reference/micropython-esp32-history.md (matrix B) and
anchors.md: the IDF each release was tested with in MicroPython's own CI,
the oldest IDF its component manifest accepts, and the submodules the esp32
port needs. A tag that no longer points at the pinned commit is an error.

Users can pin a release mpforge does not know yet (or override one) with a
TOML file named by the ``releases_file`` setting:

    [[release]]
    version = "v1.29.0"
    commit = "<40 hex digits>"
    idf = "v5.5.2"
    line = "v1.26"
    idf_commit = "<40 hex digits>"   # optional: pins the IDF tag too
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from mpforge.errors import UserError

BASE_SUBMODULES = ("lib/berkeley-db-1.xx", "lib/micropython-lib")


@dataclass(frozen=True)
class Release:
    version: str  # the git tag, e.g. "v1.28.0"
    commit: str  # the commit the tag must point at
    idf: str  # the ESP-IDF tag it builds with, e.g. "v5.5.1"
    idf_min: str  # the oldest IDF the release accepts
    line: str  # overlay folder in overlays/
    submodules: tuple[str, ...] = BASE_SUBMODULES
    idf_commit: str = ""  # the commit the IDF tag must point at ("" = IDF_COMMITS)

    @property
    def short(self) -> str:
        return self.commit[:7]


_TINYUSB = BASE_SUBMODULES + ("lib/tinyusb",)

RELEASES: dict[str, Release] = {
    r.version: r
    for r in (
        Release("v1.22.2", "8cd15829e293f01dae91b6a2d4a995bfaeca887b", "v5.0.4", "v5.0.4", "v1.22"),
        Release("v1.23.0", "a61c446c0b34e82aeb54b9770250d267656f2b7f", "v5.0.4", "v5.0.4", "v1.22"),
        Release("v1.24.1", "ecfdd5d6f9be971852003c2049600dc7b3e2a838", "v5.2.2", "v5.0.4", "v1.24", _TINYUSB),
        Release("v1.25.0", "f498a16c7db6d4b2de200b3e0856528dfe0613c3", "v5.2.2", "v5.2.0", "v1.24", _TINYUSB),
        Release("v1.26.1", "647c8b96cae7e202c7a020395b7cfe65e5b8ce04", "v5.4.2", "v5.2.0", "v1.26"),
        Release("v1.27.0", "78ff170de9e32c79db6e64d3e33d2bd60002bdcd", "v5.5.1", "v5.2.0", "v1.26"),
        Release("v1.28.0", "e0e9fbb17ed6fd06bb76e266ae554784c9c80804", "v5.5.1", "v5.3.0", "v1.26"),
    )
}

# The commits ESP-IDF's release tags point at (read from the upstream tags):
# a clone whose tag points elsewhere is refused, as for MicroPython.
IDF_COMMITS = {
    "v5.0.4": "8fbf4ba6058bcf736317d8a7aa75d0578563c38b",
    "v5.2.2": "3b8741b172dc951e18509698dee938304bcf1523",
    "v5.4.2": "f5c3654a1c2d2a01f7f67def7a0dc48e691f63c0",
    "v5.5.1": "fcae32885b0296b32044cb99ecbdc50d98dddb83",
}

DEFAULT = "v1.28.0"

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?$")
_LINES = ("v1.22", "v1.24", "v1.26")


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


def table(releases_file: str | Path | None = None) -> dict[str, Release]:
    """The built-in table, extended or overridden by the user's releases file."""
    result = dict(RELEASES)
    if releases_file:
        result.update(_load_file(Path(releases_file)))
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


def _load_file(path: Path) -> dict[str, Release]:
    if not path.is_file():
        raise UserError(f"releases_file {path} does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text (TOML is UTF-8); save it as UTF-8") from None
    extra = {}
    entries = data.get("release", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise UserError(f"{path}: 'release' must be a list of [[release]] tables (see README, Supported releases)")
    for i, entry in enumerate(entries):
        where = f"{path}: release #{i + 1}"
        unknown = set(entry) - {"version", "commit", "idf", "idf_min", "line", "submodules", "idf_commit"}
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
            commit, idf, line = entry["commit"], normalise(entry["idf"]), entry["line"]
        except KeyError as exc:
            raise UserError(f"{where}: missing key '{exc.args[0]}'") from None
        idf_commit = entry.get("idf_commit", "")
        for key, value in (("commit", commit), ("idf_commit", idf_commit or "0" * 40)):
            if not re.fullmatch(r"[0-9a-f]{40}", value):
                raise UserError(f"{where}: '{key}' is '{value}'; it must be the full 40-digit hash "
                                "(lower-case hex)")
        if line not in _LINES:
            raise UserError(f"{where}: 'line' must be one of {', '.join(_LINES)}")
        submodules = tuple(entry.get("submodules", BASE_SUBMODULES))
        extra[version] = Release(version, commit, idf, normalise(entry.get("idf_min", idf)), line, submodules,
                                 idf_commit)
    return extra
