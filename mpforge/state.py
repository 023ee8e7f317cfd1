"""Stamps: what each step last did, so a second run with nothing changed
does no work. Stamps are JSON files in <workdir>/state/, written atomically."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write a file so that it is either the old or the new content, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
        os.chmod(tmp, mode)  # mkstemp makes 0600; keep the file's own mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read(state_dir: Path, name: str) -> dict | None:
    try:
        return json.loads((state_dir / f"{name}.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def write(state_dir: Path, name: str, data: dict) -> None:
    atomic_write(state_dir / f"{name}.json", json.dumps(data, indent=2, sort_keys=True) + "\n")


def clear(state_dir: Path, name: str) -> None:
    try:
        (state_dir / f"{name}.json").unlink()
    except FileNotFoundError:
        pass


def digest(*parts) -> str:
    """A short hash over strings, bytes and file contents (Paths)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            h.update(part.read_bytes() if part.is_file() else b"<missing>")
        elif isinstance(part, bytes):
            h.update(part)
        else:
            h.update(str(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def signature(*paths: Path) -> str:
    """A cheap stand-in for the content of files and folders: size, mtime (ns) and
    inode of each file (a folder: every file below it), read without opening them.
    An edit, a replaced file or a new file changes it."""
    parts: list[str] = []

    def add(path: str) -> None:
        try:
            st = os.stat(path)
        except OSError:
            parts.append(f"{path}:missing")
            return
        if os.path.isdir(path) and not os.path.islink(path):
            with os.scandir(path) as entries:
                for name in sorted(e.name for e in entries):
                    add(os.path.join(path, name))
        else:
            parts.append(f"{path}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}")

    for path in paths:
        add(str(path))
    return digest(*parts)
