"""The upstream facts a release line relies on, checked on a port tree.

A line's overlay.toml names the files of ports/esp32 it relies on
([upstream] present) and the ones whose presence means the tree is of
another layout ([upstream] absent); docs/micropython-esp32.md §9. The check
is the first thing `invoke config` does, so a tree that changed under the
line stops with one line naming the file, not with a config that passes by
luck. The same data explains kconfgen's warnings about symbols an older IDF
does not have ([kconfig_since]).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

from mpforge.errors import UserError
from mpforge.model import lines, releases

STEP = "config"
_SAFE = re.compile(r"^[A-Za-z0-9_.@/*-]+$")


def _path(entry: str, board: str) -> str:
    rel = entry.replace("@BOARD@", board)
    if not _SAFE.match(rel) or ".." in rel.split("/") or rel.startswith("/") or "*" in rel.rpartition("/")[0]:
        raise UserError(STEP, f"overlay [upstream] entry '{entry}' is not a relative path under ports/esp32 "
                        "(a '*' only in its last part)")
    return rel


class Tree(Protocol):
    """The files of ports/esp32 a check reads: a folder on disk, or a git tag (source/releaseadd.py)."""

    def matches(self, rel: str) -> list[str]: ...  # the files named by rel ('*' in its last part)

    def read(self, rel: str) -> str: ...  # a file's text ("" when it is not there)


class Folder:
    """ports/esp32 as it is on disk."""

    def __init__(self, port_dir: Path):
        self.port_dir = Path(port_dir)

    def matches(self, rel: str) -> list[str]:
        if "*" in rel:
            return sorted(str(p.relative_to(self.port_dir)) for p in self.port_dir.glob(rel) if p.is_file())
        return [rel] if (self.port_dir / rel).is_file() else []

    def read(self, rel: str) -> str:
        try:
            return (self.port_dir / rel).read_text(errors="replace")
        except OSError:
            return ""


def problems(line: lines.Line, port_dir: Path | Tree, board: str) -> list[str]:
    """What on this tree contradicts the line's upstream facts, one sentence each ([] = it fits).
    The variant mechanism is among them: a line names the files that declare variants
    (boards/@BOARD@/mpconfigvariant_*.cmake in [upstream] present) or the text in the board
    cmake that does ([upstream.contains]); docs/micropython-esp32.md §9."""
    tree = Folder(port_dir) if isinstance(port_dir, Path) else port_dir
    found = []
    for entry in line.present:
        rel = _path(entry, board)
        if not tree.matches(rel):
            found.append(f"ports/esp32/{rel} is missing: line {line.name} relies on it")
    for entry in line.absent:
        rel = _path(entry, board)
        if tree.matches(rel):
            found.append(f"ports/esp32/{rel} exists: line {line.name} expects it gone")
    for entry, text in (line.contains or {}).items():
        rel = _path(entry, board)
        if text not in tree.read(rel):
            found.append(f"ports/esp32/{rel} does not mention {text}: line {line.name} declares variants there")
    return found


def require(line: lines.Line, port_dir: Path, board: str) -> None:
    """One-line UserError when the tree is not of the line's layout (a board the tree lacks is
    left to boardcmake.evaluate, which names it)."""
    if not (port_dir / "boards" / board).is_dir():
        return
    found = problems(line, port_dir, board)
    if found:
        raise UserError(STEP, f"{found[0]} (the tree at {port_dir} is not laid out like line {line.name}); "
                        "check micropython.dir is at the release, or report the change upstream made")


_SYMBOL = re.compile(r"'(?:CONFIG_)?([A-Z0-9_]+)'")


def explain(warnings, line: lines.Line, idf_version: str) -> list[str]:
    """kconfgen's warnings, each unknown symbol the line knows about followed by why it is harmless."""
    since = line.kconfig_since or {}
    out = []
    for text in warnings:
        m = _SYMBOL.search(text) if "unknown" in text.lower() else None
        fact = since.get(m.group(1)) if m else None
        if fact and releases.is_version(idf_version) and \
                releases.version_tuple(idf_version) < releases.version_tuple(fact["idf"]):
            why = f": {fact['why']}" if fact.get("why") else ""
            text = f"{text} (from IDF {fact['idf']} on; {releases.normalise(idf_version)} ignores it{why})"
        out.append(text)
    return out
