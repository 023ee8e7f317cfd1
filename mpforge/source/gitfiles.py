"""A repository's HEAD and submodule gitlinks, read from its files without running git.

The no-op path of the pipeline asks these questions for every (profile,
release) pair; starting git for each costs more than the rest of the check
(docs/performance.md). The formats read here are git's documented on-disk
ones (gitrepository-layout, index-format). Anything this reader does not
understand (a reftable repository, an unknown index version) gives None, and
the caller asks git itself.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

_SHA = re.compile(r"^[0-9a-f]{40}$")
GITLINK = 0o160000


def git_dir(worktree: Path) -> Path | None:
    """The repository folder of a work tree: <worktree>/.git, or where a `gitdir:` file points."""
    dot_git = worktree / ".git"
    try:
        if dot_git.is_dir():
            return dot_git if (dot_git / "HEAD").is_file() else None
        text = dot_git.read_text().strip()
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    target = Path(text.removeprefix("gitdir:").strip())
    target = target if target.is_absolute() else worktree / target
    return target if (target / "HEAD").is_file() else None


def _common_dir(gdir: Path) -> Path:
    """Where refs live: the main repository for a linked work tree (its `commondir` file)."""
    try:
        common = Path((gdir / "commondir").read_text().strip())
    except OSError:
        return gdir
    return common if common.is_absolute() else gdir / common


def _packed_ref(common: Path, ref: str) -> str | None:
    try:
        lines = (common / "packed-refs").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        sha, _, name = line.partition(" ")
        if name == ref and _SHA.match(sha):
            return sha
    return None


def head(worktree: Path) -> str | None:
    """The commit checked out in a work tree, or None when it cannot be read from the files."""
    gdir = git_dir(worktree)
    if gdir is None:
        return None
    common = _common_dir(gdir)
    try:
        value = (gdir / "HEAD").read_text().strip()
        for _ in range(5):  # a symbolic ref may point at another one
            if _SHA.match(value):
                return value
            if not value.startswith("ref: "):
                return None
            ref = value.removeprefix("ref: ").strip()
            if ".." in ref.split("/"):
                return None
            base = gdir if ref == "HEAD" or not ref.startswith("refs/") else common
            loose = base / ref
            if loose.is_file():
                value = loose.read_text().strip()
                continue
            return _packed_ref(common, ref)
    except OSError:
        return None
    return None


def gitlinks(worktree: Path) -> dict[str, str] | None:
    """{path: commit} of the submodules recorded in the index (what `git submodule status`
    compares against), or None for an index this reader does not know. A path in a
    merge conflict maps to "" (git's 'U')."""
    gdir = git_dir(worktree)
    if gdir is None:
        return None
    try:
        data = (gdir / "index").read_bytes()
    except FileNotFoundError:
        return {}
    except OSError:
        return None
    if len(data) < 12 or data[:4] != b"DIRC":
        return None
    version, count = struct.unpack(">II", data[4:12])
    if version not in (2, 3, 4):
        return None
    links: dict[str, str] = {}
    pos, previous = 12, b""
    try:
        for _ in range(count):
            start = pos
            mode = struct.unpack(">I", data[pos + 24:pos + 28])[0]
            sha = data[pos + 40:pos + 60].hex()
            flags = struct.unpack(">H", data[pos + 60:pos + 62])[0]
            pos += 62
            if flags & 0x4000 and version >= 3:  # extended flags
                pos += 2
            if version == 4:  # path prefix-compressed against the previous entry
                byte = data[pos]
                pos += 1
                strip = byte & 0x7F
                while byte & 0x80:  # git's offset varint (varint.c)
                    byte = data[pos]
                    pos += 1
                    strip = ((strip + 1) << 7) + (byte & 0x7F)
                end = data.index(b"\0", pos)
                name = previous[:len(previous) - strip] + data[pos:end]
                pos = end + 1
            else:
                end = data.index(b"\0", pos)
                name = data[pos:end]
                pos = start + ((end - start + 8) // 8) * 8  # NUL-padded to a multiple of 8
            previous = name
            if mode & 0o170000 == GITLINK:
                stage = (flags >> 12) & 3
                links[name.decode("utf-8", "surrogateescape")] = "" if stage else sha
    except (struct.error, ValueError, IndexError):
        return None
    return links
