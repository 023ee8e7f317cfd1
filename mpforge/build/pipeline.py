"""The build chain: each step checks its own state and does only what is missing.

Steps are composed here in Python rather than as invoke pre-tasks, because
pre-tasks get no arguments (shared/reference/anchors.md §8) and each step
needs the profile and release the user asked for.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from typing import Callable

from mpforge.build import make as build
from mpforge.config import check as configcheck
from mpforge.build import frozen
from mpforge.source import idf
from mpforge.source import micropython
from mpforge.build import mpycross
from mpforge.build import overlay
from mpforge.source import prereqs
from mpforge.errors import UserError
from mpforge.model.settings import Job


@dataclass(frozen=True)
class Step:
    name: str
    status: Callable[[Job], tuple[bool, str]]
    ensure: Callable[[Job], None]


def _prereqs_status(job: Job) -> tuple[bool, str]:
    if job.settings.os_packages:
        ok, message, _manager, _missing = prereqs.status()
        if not ok:
            return False, message
    return idf.status(job)


def _prereqs_ensure(job: Job) -> None:
    if job.settings.os_packages:
        prereqs.ensure(yes=job.settings.yes, dry=job.settings.dry)
    idf.ensure(job)


STEPS = (
    Step("install-prereqs", _prereqs_status, _prereqs_ensure),
    Step("fetch", micropython.status, micropython.ensure),
    Step("mpy-cross", mpycross.status, mpycross.ensure),
    Step("overlay", overlay.status, overlay.apply),
    Step("config", configcheck.status, configcheck.ensure),
    Step("build", build.status, build.ensure),
)


def _index(name: str) -> int:
    return [step.name for step in STEPS].index(name)


def run_through(job: Job, last: str, start: str = "install-prereqs") -> None:
    """Run the steps from `start` to `last` inclusive, each only if needed."""
    if _index(last) >= _index("build"):
        frozen.source(job)  # a bad --frozen path fails now, not after the long steps
    for step in STEPS[_index(start):_index(last) + 1]:
        step.ensure(job)


def run_step(job: Job, name: str) -> None:
    STEPS[_index(name)].ensure(job)


def check_config(job: Job, as_json: bool = False) -> None:
    """`invoke config`: the steps the check needs, then the check, printed (JSON on stdout with as_json).

    With the idf.python setting the checkouts are used as they are (nothing is
    fetched or installed): the MicroPython tree must be at the release's
    commit and the IDF at its version; only the overlay is placed.
    """
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        if configcheck.own_python(job):
            micropython.check_checkout(job)
            overlay.apply(job)
        else:
            for step in STEPS:
                if step.name in ("install-prereqs", "fetch", "overlay"):  # mpy-cross is not needed
                    step.ensure(job)
    if job.settings.dry:  # nothing was fetched or placed: there is nothing to resolve yet
        configcheck.ensure(job)
        return
    configcheck.run(job, as_json=as_json)


def status_rows(job: Job) -> list[tuple[str, bool, str]]:
    rows = []
    for step in STEPS:
        try:
            ok, message = step.status(job)
        except UserError as exc:
            ok, message = False, str(exc)
        except OSError as exc:  # a step whose inputs do not exist yet
            ok, message = False, f"not ready ({exc.strerror or exc})"
        rows.append((step.name, ok, message))
    return rows
