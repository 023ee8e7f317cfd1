"""Test sessions: `nox --list` shows them.

    nox --session tests          the default tier on every supported Python found here
    nox --session upstream       the opt-in tier against real MicroPython / ESP-IDF trees
    nox --session bench          the benchmarks (whole commands, side by side)

The README's plain `python -m pytest` stays the one command CI runs; these
sessions run the same suite in fresh virtual environments per Python.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nox

ROOT = Path(__file__).parent
SUPPORTED = ("3.10", "3.11", "3.12", "3.13")


def _runs(version: str) -> bool:
    """pythonX.Y is on PATH and starts (a pyenv shim of a version not selected does not)."""
    exe = shutil.which(f"python{version}")
    return bool(exe) and subprocess.run([exe, "-c", ""], capture_output=True).returncode == 0


# Only the Pythons this machine has: a missing one is not a failure of the project.
FOUND = [v for v in SUPPORTED if _runs(v)] or ["3.11"]
UPSTREAM_VARS = ("MPFORGE_UPSTREAM_MICROPYTHON", "MPFORGE_UPSTREAM_IDF")

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True


def _install(session: nox.Session) -> None:
    session.install("-r", "requirements-dev.txt")
    if not (ROOT / "tests" / "harness" / "node_modules").is_dir():
        session.run("npm", "ci", "--no-audit", "--no-fund", "--prefix", "tests/harness", external=True)


@nox.session(python=FOUND)
def tests(session: nox.Session) -> None:
    """The default tier: no network, no hardware (the same suite as `python -m pytest`)."""
    _install(session)
    session.run("python", "-m", "pytest", "-q", *session.posargs)


@nox.session(python=FOUND[0])
def upstream(session: nox.Session) -> None:
    """The opt-in tier: set MPFORGE_UPSTREAM_MICROPYTHON (and _IDF) to real checkouts."""
    if not any(os.environ.get(name) for name in UPSTREAM_VARS):
        session.skip(f"set {' or '.join(UPSTREAM_VARS)} to real checkouts to run the upstream tier")
    _install(session)
    session.run("python", "-m", "pytest", "-q", "tests/test_upstream.py", *session.posargs)


@nox.session(python=FOUND[0])
def bench(session: nox.Session) -> None:
    """The benchmarks: mpforge's commands timed beside what a user would otherwise run."""
    _install(session)
    session.run("python", "scripts/bench.py", *session.posargs)
