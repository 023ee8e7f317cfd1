"""Frozen modules: the user's own Python code baked into the firmware.

The user names a folder of modules or a manifest.py in MicroPython's manifest
format. mpforge writes a manifest that first includes the board's own
(ports/esp32/boards/manifest.py unless the board has one), so nothing the
stock firmware freezes is lost, then the user's code; the build passes it as
FROZEN_MANIFEST. Sources are syntax-checked here, so a typo is one line
naming file and line before a long build, not a failure deep inside it.
"""

from __future__ import annotations

import json

from pathlib import Path

from mpforge import state
from mpforge.errors import UserError
from mpforge.model.settings import Job

STEP = "frozen"


def source(job: Job) -> Path | None:
    """The folder or manifest.py to freeze for this job (flag over profile), checked."""
    path = job.frozen
    if path is None:
        return None
    if not path.exists():
        raise UserError(STEP, f"{path} does not exist (a folder of .py modules or a manifest.py)")
    if path.is_dir():
        modules = python_files(path)
        if not modules:
            raise UserError(STEP, f"{path} holds no Python files (.py) to freeze")
        for module in modules:
            _syntax_check(module)
    elif path.suffix == ".py":
        _syntax_check(path)
    else:
        raise UserError(STEP, f"{path} is neither a folder nor a manifest .py file")
    return path.resolve()


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if p.is_file() and "__pycache__" not in p.parts)


def _syntax_check(path: Path) -> None:
    try:
        compile(path.read_text(), str(path), "exec")
    except SyntaxError as exc:
        raise UserError(STEP, f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except UnicodeDecodeError:
        raise UserError(STEP, f"{path} is not UTF-8 text") from None


def digest(job: Job) -> str:
    """Changes when any frozen source changes: the build depends on it.

    For a manifest.py, the manifest and every .py file below its folder count
    (files a manifest pulls from elsewhere are not tracked).
    """
    path = source(job)
    if path is None:
        return ""
    folder = path if path.is_dir() else path.parent
    files = python_files(folder)
    if path.is_file() and path not in files:
        files.insert(0, path)
    return state.digest(*(f"{f.relative_to(folder)}" for f in files), *files)


def manifest_text(job: Job, path: Path) -> str:
    board_manifest = job.board_dir / "manifest.py"
    base = str(board_manifest) if board_manifest.exists() else "$(PORT_DIR)/boards/manifest.py"
    # Paths as Python string literals (JSON's escapes are Python's): a quote or newline
    # in a folder name stays data.
    user = f"freeze({json.dumps(str(path))})" if path.is_dir() else f"include({json.dumps(str(path))})"
    label = "".join(ch if ch.isprintable() else "?" for ch in job.label)
    return (f"# Written by mpforge for {label}: the board's own frozen modules, then yours.\n"
            f"include({json.dumps(base)})\n{user}\n")


def manifest_path(job: Job) -> Path | None:
    """Where the manifest passed as FROZEN_MANIFEST lives (None: nothing to freeze)."""
    if job.frozen is None:
        return None
    return job.settings.workdir / "frozen" / job.key / "manifest.py"


def write_manifest(job: Job) -> Path | None:
    """Write the manifest, only when its text changed (make then sees no new mtime)."""
    if (path := source(job)) is None:
        return None
    target = manifest_path(job)
    text = manifest_text(job, path)
    if not target.exists() or target.read_text() != text:
        state.atomic_write(target, text)
    return target


def module_names(job: Job) -> list[str]:
    """Top-level modules and packages a frozen folder provides (verify imports them).
    A user manifest.py can freeze anything, so none are known for it."""
    path = source(job)
    if path is None or not path.is_dir():
        return []
    names = [p.stem for p in path.glob("*.py") if p.stem != "__init__"]
    names += [p.name for p in path.iterdir() if p.is_dir() and (p / "__init__.py").exists()]
    return sorted(names)
