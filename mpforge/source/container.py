"""A container engine (docker or podman) running Espressif's ESP-IDF images.

The container backend builds inside `espressif/idf:<IDF tag>` (the image
Espressif publishes for every IDF release; docs/containers.md) instead of an
IDF installed on this machine. Every folder a command needs is bind-mounted
at the same path it has here, so no path is translated: the paths in the
build's flasher_args.json, the stamps and the logs mean the same on both
sides. Commands run as the calling user's uid:gid, so what the build writes
is the user's, not root's.

This module only talks to the engine and builds command lines; which steps
use it is decided in toolchain.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mpforge import shell
from mpforge.errors import UserError

STEP = "container"
ENGINES = ("docker", "podman")
# A HOME the calling uid can write to (the image's own HOME belongs to root).
_HOME = "/tmp/mpforge-home"


@dataclass(frozen=True)
class Container:
    """One engine and one image, with the folders a job mounts."""

    engine: str  # the engine program (a path)
    image: str  # e.g. espressif/idf:v5.5.1
    mounts: tuple[Path, ...]  # mounted read-write at the same path

    @property
    def engine_name(self) -> str:
        return Path(self.engine).name

    def command(self, cmd: list[str], cwd: Path, env: dict | None = None) -> list[str]:
        """`engine run` for cmd in cwd, as the calling user, with the mounts."""
        args = [self.engine, "run", "--rm", "--init"]
        if self.engine_name.startswith("podman"):
            args.append("--userns=keep-id")  # rootless podman maps the uid only with keep-id
        args += ["--user", f"{os.getuid()}:{os.getgid()}", "-e", f"HOME={_HOME}"]
        for key, value in sorted((env or {}).items()):
            args += ["-e", f"{key}={value}"]
        for mount in self.mounts:
            args += ["-v", f"{mount}:{mount}"]
        args += ["-w", str(cwd), self.image, *cmd]
        return args


# An image reference as the engines accept it: registry/name:tag or @digest.
_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9._-]+)?(@sha256:[0-9a-f]{64})?$")


def image_name(template: str, idf_version: str) -> str:
    """The image for an IDF version: the container.image setting with {idf} filled in."""
    name = template.replace("{idf}", idf_version)
    if not _IMAGE.match(name):
        raise UserError(f"setting container.image gives {name!r}, which is not an image name; "
                        "use a name like espressif/idf:{idf}")
    return name


def find_engine(setting: str) -> str:
    """The engine program: the container.engine setting, else docker, else podman on PATH."""
    wanted = [setting] if setting else list(ENGINES)
    for name in wanted:
        found = shutil.which(name)
        if found:
            return found
    if setting:
        raise UserError(STEP, f"container engine {setting!r} (setting container.engine) not found on PATH; "
                        "install it or set container.engine to docker or podman")
    raise UserError(STEP, "no container engine found: install docker or podman, "
                    "or use the native backend (--backend native)")


def check_mountable(path: Path) -> Path:
    """A folder the engine can bind-mount at the same path: absolute, existing, no ':' ',' or control chars."""
    path = Path(os.path.abspath(path))
    text = str(path)
    if path == Path(path.anchor):
        raise UserError(STEP, f"will not mount the root folder {text} into the container; "
                        "put the workdir and the MicroPython tree in a folder of their own")
    if any(c in text for c in ":,") or any(ord(c) < 32 for c in text):
        raise UserError(STEP, f"{text!r} cannot be mounted into a container (':' ',' or a control "
                        "character in the path); move it or set workdir / micropython.dir to a plain path")
    return path


def mounts_for(*paths: Path | None) -> tuple[Path, ...]:
    """The folders to mount, each once: a folder inside another mounted one needs no mount of its own."""
    chosen: list[Path] = []
    for path in sorted({check_mountable(p) for p in paths if p is not None}, key=lambda p: len(p.parts)):
        if not any(path == c or c in path.parents for c in chosen):
            chosen.append(path)
    return tuple(chosen)


def check_running(container: Container) -> None:
    """The engine answers (its daemon or service is up)."""
    result = _run([container.engine, "info"], capture=True)
    if result.returncode != 0:
        raise UserError(STEP, f"{container.engine_name} is installed but not running "
                        f"({_reason(result)}); start it (e.g. `sudo systemctl start {container.engine_name}`)")


def has_image(container: Container) -> bool:
    return _run([container.engine, "image", "inspect", container.image], capture=True).returncode == 0


def pull(container: Container, log: Path) -> None:
    """Pull the image; a failure names the engine's reason."""
    code = shell.stream(STEP, [container.engine, "pull", container.image], cwd=log.parent,
                        env=dict(os.environ), log=log)
    if code != 0:
        lines = [l for l in log.read_text(errors="replace").splitlines() if l.strip()]
        reason = lines[-1].strip() if lines else f"exit code {code}"
        raise UserError(STEP, f"cannot pull {container.image}: {reason}; check the tag (container.image) "
                        "and the network, or pull it yourself")


def _run(cmd: list[str], capture: bool) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=capture, text=True, stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise UserError(STEP, f"cannot run {cmd[0]}: {exc.strerror}") from None


def _reason(result: subprocess.CompletedProcess) -> str:
    lines = [l.strip() for l in (result.stderr or result.stdout or "").splitlines() if l.strip()]
    return lines[-1] if lines else f"exit code {result.returncode}"
