"""OS packages the ESP-IDF build needs, per package manager.

The lists are ESP-IDF's own (docs/en/get-started/linux-macos-setup.rst,
identical v5.0.4-v5.5; see docs/esp-idf.md §1) plus make and a C
compiler for mpy-cross. Nothing is installed without --yes or a "y" typed
at a terminal, and the sudo command is always shown before it runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

from mpforge import shell
from mpforge import events
from mpforge.results import StepResult
from mpforge.errors import UserError

STEP = "install-prereqs"


@dataclass(frozen=True)
class Manager:
    name: str
    probe: str  # the program whose presence identifies the manager
    packages: tuple[str, ...]
    install: tuple[str, ...]
    needs_root: bool = True
    refresh: tuple[str, ...] = ()

    def missing(self, packages) -> list[str]:
        return [p for p in packages if not _installed(self, p)]


MANAGERS = (
    Manager("apt", "dpkg-query",
            ("git", "wget", "flex", "bison", "gperf", "python3", "python3-pip", "python3-venv", "cmake",
             "ninja-build", "ccache", "libffi-dev", "libssl-dev", "dfu-util", "libusb-1.0-0", "make", "gcc"),
            ("apt-get", "install", "-y"), refresh=("apt-get", "update")),
    Manager("dnf", "rpm",
            ("git", "wget", "flex", "bison", "gperf", "python3", "cmake", "ninja-build", "ccache",
             "dfu-util", "libusbx", "make", "gcc"),
            ("dnf", "install", "-y")),
    Manager("pacman", "pacman",
            ("gcc", "git", "make", "flex", "bison", "gperf", "python", "python-pip", "cmake", "ninja",
             "ccache", "dfu-util", "libusb"),
            ("pacman", "-S", "--needed", "--noconfirm")),
    Manager("brew", "brew", ("cmake", "ninja", "dfu-util", "ccache"), ("brew", "install"), needs_root=False),
)


def detect() -> Manager | None:
    for manager in MANAGERS:
        if shutil.which(manager.probe) and shutil.which(manager.install[0]):
            return manager
    return None


def _installed(manager: Manager, package: str) -> bool:
    query = {
        "apt": ["dpkg-query", "-W", "-f=${Status}", package],
        "dnf": ["rpm", "-q", package],
        "pacman": ["pacman", "-Q", package],
        "brew": ["brew", "list", "--versions", package],
    }[manager.name]
    result = subprocess.run(query, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if manager.name == "apt":
        return result.returncode == 0 and "install ok installed" in result.stdout
    return result.returncode == 0 and (manager.name != "brew" or bool(result.stdout.strip()))


def _as_root(cmd: tuple[str, ...], manager: Manager) -> list[str]:
    if manager.needs_root and os.geteuid() != 0:
        shell.require(STEP, "sudo")
        return ["sudo", *cmd]
    return list(cmd)


# Where each package manager records what is installed: an install or removal
# rewrites the file or adds and removes entries in the folder (new mtime).
_PACKAGE_DBS = ("/var/lib/dpkg/status", "/var/lib/rpm/rpmdb.sqlite", "/var/lib/rpm/Packages",
                "/usr/lib/sysimage/rpm/rpmdb.sqlite", "/var/lib/pacman/local",
                "/opt/homebrew/Cellar", "/usr/local/Cellar")


def inputs() -> list:
    """What status depends on, without querying the package manager: PATH and the
    package databases' mtimes. The pipeline's up-to-date stamp hashes it."""
    stats = []
    for path in _PACKAGE_DBS:
        try:
            st = os.stat(path)
        except OSError:
            continue
        stats.append(f"{path}:{st.st_size}:{st.st_mtime_ns}")
    return [os.environ.get("PATH", ""), *stats]


def status() -> tuple[bool, str, Manager | None, list[str]]:
    manager = detect()
    if manager is None:
        return True, "no apt, dnf, pacman or brew found; OS packages not checked", None, []
    missing = manager.missing(manager.packages)
    if missing:
        return False, f"missing {manager.name} packages: {' '.join(missing)}", manager, missing
    return True, f"{len(manager.packages)} {manager.name} packages present", manager, []


def current() -> tuple[bool, str]:
    """The pipeline's question before ensure (no package manager: ensure says so)."""
    ok, message, manager, _missing = status()
    return ok and manager is not None, message


def ensure(*, yes: bool, dry: bool) -> StepResult | None:
    ok, message, manager, missing = status()
    if ok:
        return StepResult(STEP, message)
    command = _as_root(manager.install, manager) + missing
    events.note(STEP, message)
    if dry:
        shell.run(STEP, command, dry=True)
        return None
    if not yes and not events.ask(STEP, f"install them now with `{shell.quote(command)}`? [y/N]"):
        raise UserError(STEP, f"missing OS packages: {' '.join(missing)}; "
                        f"run `invoke install-prereqs --yes` to install them, or run `{shell.quote(command)}`")
    if manager.refresh:
        refresh = _as_root(manager.refresh, manager)
        events.note(STEP, f"running: {shell.quote(refresh)}")
        shell.run(STEP, refresh)
    events.note(STEP, f"running: {shell.quote(command)}")
    shell.run(STEP, command)
    still = manager.missing(missing)
    if still:
        raise UserError(STEP, f"still missing after install: {' '.join(still)}; install them with your "
                              "package manager, then `invoke install-prereqs` retries")

