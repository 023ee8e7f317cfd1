"""Pure data and its validation: settings, profiles, releases, release lines, chips."""

from __future__ import annotations

from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser as a package (requirements.txt)
    import tomli as tomllib

from mpforge.errors import UserError


def read_toml(path: Path, missing: str = "") -> dict:
    """A TOML file as a dict; a missing file (when `missing` says why) or bad TOML is one line."""
    if missing and not path.is_file():
        raise UserError(missing)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text (TOML is UTF-8); save it as UTF-8") from None
