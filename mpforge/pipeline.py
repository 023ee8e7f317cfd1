"""The build chain: each step checks its own state and does only what is missing.

Steps are composed here in Python rather than as invoke pre-tasks, because
pre-tasks get no arguments (shared/reference/anchors.md §8) and each step
needs the profile and release the user asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import build, idf, micropython, mpycross, overlay, prereqs
from .errors import UserError
from .settings import Job


@dataclass(frozen=True)
class Step:
    name: str
    status: Callable[[Job], tuple[bool, str]]
    ensure: Callable[[Job], None]


def _prereqs_status(job: Job) -> tuple[bool, str]:
    ok, message, _manager, _missing = prereqs.status() if job.settings.extra.get("os_packages", True) else (True, "OS packages not checked (os_packages: false)", None, [])
    if not ok:
        return False, message
    idf_ok, idf_message = idf.status(job)
    return idf_ok, idf_message


def _prereqs_ensure(job: Job) -> None:
    if job.settings.extra.get("os_packages", True):
        prereqs.ensure(yes=job.settings.yes, dry=job.settings.dry)
    idf.ensure(job)


STEPS = (
    Step("install-prereqs", _prereqs_status, _prereqs_ensure),
    Step("fetch", micropython.status, micropython.ensure),
    Step("mpy-cross", mpycross.status, mpycross.ensure),
    Step("overlay", overlay.status, overlay.apply),
    Step("build", build.status, build.ensure),
)


def _index(name: str) -> int:
    return [step.name for step in STEPS].index(name)


def run_through(job: Job, last: str, start: str = "install-prereqs") -> None:
    """Run the steps from `start` to `last` inclusive, each only if needed."""
    for step in STEPS[_index(start):_index(last) + 1]:
        step.ensure(job)


def run_step(job: Job, name: str) -> None:
    STEPS[_index(name)].ensure(job)


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
