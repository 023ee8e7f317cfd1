"""What `invoke boards` and `invoke releases` list: the profiles and the releases, as rows.

Data only; the task layer renders the rows (mpforge.ui) as a table or as JSON.
"""

from __future__ import annotations

from mpforge import state
from mpforge.errors import UserError
from mpforge.model import taglock
from mpforge.model import profiles, releases
from mpforge.text import size_text


def _memory(size: int, kind: str) -> str:
    return f"{size_text(size)} {kind}" if size else "none"


def boards(settings) -> list[dict]:
    """Every profile in boards/: flash, PSRAM, variant, and the releases verify proved it on
    (from <workdir>/state/verified.json, which `invoke verify` keeps)."""
    verified = state.read(settings.state_dir, "verified") or {}
    rows = []
    for name in profiles.available():
        try:
            p = profiles.load(name)
        except UserError as exc:  # one broken profile must not hide the others
            rows.append({"profile": name, "error": str(exc)})
            continue
        checked = verified.get(name) or {}
        rows.append({
            "profile": name,
            "board": p.title,
            "flash": _memory(p.flash_size, p.flash_type),
            "psram": _memory(p.psram_size, p.psram_mode),
            "variant": p.variant,
            "checked_on": {version: checked[version] for version in sorted(checked, key=_order)},
            "default": name == settings.default_profile,
        })
    return rows


def _order(version: str):
    try:
        return releases.version_tuple(version)
    except ValueError:
        return (0, 0, 0)


def releases_rows(settings) -> list[dict]:
    """Every release mpforge can build (the built-in table and the releases_file)."""
    table = releases.table(settings.releases_file)
    locked = taglock.locks(settings.workdir)
    return [{
        "micropython": r.version,
        "commit": r.commit or locked.get(r.version, ""),
        "commit_source": "pinned" if r.commit else ("recorded on first fetch" if r.version in locked else "unpinned"),
        "idf": r.idf,
        "idf_min": r.idf_min,
        "overlay": f"overlays/{r.line}",
        "default": r.version == settings.micropython_version,
    } for r in sorted(table.values(), key=lambda r: _order(r.version))]
