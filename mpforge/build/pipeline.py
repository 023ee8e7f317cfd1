"""The build chain: each step checks its own state and does only what is missing.

Steps are composed here in Python rather than as invoke pre-tasks, because
pre-tasks get no arguments (docs/tools.md §1) and each step
needs the profile and release the user asked for.

Each entry point (run_through, run_step, check_config, revert_overlay) yields
the steps' results as each step ends; the task layer shows them (mpforge.ui).

Up to date, cheaply: each step names its inputs (files by size and mtime,
commits read from the repository files, rendered text), and a step whose
inputs hash to what the stamp recorded after its last good check is skipped
without running its check: no git, cmake or kconfgen on a no-op
(docs/performance.md). Any other hash runs the step's own check as before.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Iterator

from mpforge.build import make
from mpforge.config import check as configcheck
from mpforge.build import cmodules, frozen
from mpforge.source import micropython
from mpforge.build import mpycross
from mpforge.build import overlay
from mpforge.source import prereqs
from mpforge import PROJECT_ROOT
from mpforge import state
from mpforge.source import toolchain
from mpforge.errors import UserError
from mpforge.results import StepResult
from mpforge.model.settings import Job


@dataclass(frozen=True)
class Step:
    """One step of the chain. The pipeline asks `current` (default: `status`) first and says
    "up to date" itself; `ensure` runs only when there is work and returns its StepResult
    (a step made of `parts` runs each part as a step of its own instead)."""

    name: str
    status: Callable[[Job], tuple[bool, str]]  # for `invoke status`
    ensure: Callable[[Job], StepResult | None] | None  # None: `parts` do the work
    current: Callable[[Job], tuple[bool, str]] | None = None
    ask_first: bool = True  # False: ensure decides itself (it reports "up to date" as its result)
    ask_when_dry: bool = True  # False: a dry run goes straight to ensure (it says what it would do)
    inputs: Callable[[Job], list] | None = None  # what the up-to-date stamp hashes (None: no stamp)
    needs: tuple[str, ...] = ()  # the steps whose result this one uses
    parts: Callable[[Job], tuple["Step", ...]] | None = None  # a step made of steps, each shown on its own


def _native_packages(job: Job) -> bool:
    """Whether install-prereqs checks OS packages here (the container's image has the IDF's own)."""
    return job.settings.os_packages and not toolchain.is_container(job)


def _prereqs_status(job: Job) -> tuple[bool, str]:
    """Both checks; when both pass, both messages, one a line."""
    said = []
    if _native_packages(job):
        ok, message, _manager, _missing = prereqs.status()
        if not ok:
            return False, message
        said.append(message)
    ok, message = toolchain.status(job)
    return ok, "\n".join([*said, message]) if ok else message


_OS_PACKAGES = Step("install-prereqs", lambda job: prereqs.status()[:2],
                    lambda job: prereqs.ensure(yes=job.settings.yes, dry=job.settings.dry),
                    current=lambda job: prereqs.current())
_IDF = Step("install-prereqs", toolchain.status, toolchain.ensure, current=toolchain.current)


def _prereqs_parts(job: Job) -> tuple[Step, ...]:
    """OS packages (not for the container backend), then the IDF: each part reports on its own."""
    return (_OS_PACKAGES, _IDF) if _native_packages(job) else (_IDF,)


def _prereqs_inputs(job: Job) -> list:
    return [*(prereqs.inputs() if _native_packages(job) else []), *toolchain.inputs(job)]


STEPS = (
    Step("install-prereqs", _prereqs_status, None, ask_first=False, inputs=_prereqs_inputs, parts=_prereqs_parts),
    Step("fetch", micropython.status, micropython.ensure, inputs=micropython.inputs),
    Step("mpy-cross", mpycross.status, mpycross.ensure, needs=("fetch",)),
    Step("overlay", overlay.status, overlay.apply, ask_first=False, inputs=overlay.inputs,
         needs=("fetch",)),  # no mpy-cross
    Step("config", configcheck.status, configcheck.ensure, ask_first=False, inputs=configcheck.inputs,
         needs=("install-prereqs", "fetch", "overlay")),
    Step("build", make.status, make.ensure, ask_when_dry=False, inputs=make.inputs,
         needs=("install-prereqs", "fetch", "mpy-cross", "overlay", "config")),
)


# ---- up to date by the hash of a step's inputs ------------------------------------------

_code: str | None = None


def _code_signature() -> str:
    """mpforge's own sources and overlays: a changed mpforge re-checks every step."""
    global _code
    if _code is None:
        files = [os.path.join(folder, name)
                 for top in (PROJECT_ROOT / "mpforge", PROJECT_ROOT / "overlays")
                 for folder, _dirs, names in os.walk(top) for name in names if not name.endswith(".pyc")]
        _code = state.signature(*sorted(files))
    return _code


def _settings_text(job: Job) -> str:
    s = job.settings
    return repr((s.workdir, s.micropython_url, s.micropython_dir, s.idf_version, s.idf_url, s.idf_dir,
                 s.idf_tools_path, s.os_packages, job.frozen, s.backend, s.container_engine, s.container_image,
                 s.idf_python, s.c_modules))


def _stamp_name(job: Job) -> str:
    return f"uptodate-{job.key}"


def _fingerprint(step: Step, job: Job) -> str | None:
    """The hash of a step's inputs, or None when it has none or they cannot be read (then its own check runs)."""
    if step.inputs is None or job.settings.dry:
        return None
    try:
        parts = step.inputs(job)
    except (UserError, OSError):
        return None
    return state.digest(step.name, job.key, repr(job.release), job.profile.digest, job.idf_version,
                        _settings_text(job), _code_signature(), *parts)


def _recorded(step: Step, job: Job, fingerprint: str | None) -> str | None:
    """The message of the step's last good check when its inputs still hash the same."""
    if fingerprint is None:
        return None
    entry = (state.read(job.settings.state_dir, _stamp_name(job)) or {}).get(step.name) or {}
    return entry.get("message") if entry.get("inputs") == fingerprint else None


def _record(step: Step, job: Job) -> None:
    """After the step ran: stamp its inputs with its check, if that check passes now."""
    fingerprint = _fingerprint(step, job)
    if fingerprint is None:
        return
    try:
        ok, message = step.status(job)
    except (UserError, OSError):
        return
    stamps = state.read(job.settings.state_dir, _stamp_name(job)) or {}
    if ok:
        stamps[step.name] = {"inputs": fingerprint, "message": message}
    else:
        stamps.pop(step.name, None)
    state.write(job.settings.state_dir, _stamp_name(job), stamps)


def ensure(job: Job, step: Step) -> Iterator[StepResult]:
    """The one "if up to date, say so" of the chain: the stamp of the step's inputs (no
    program runs), else the step's own check; otherwise the step's work, then its stamp.
    Yields the step's result (one per part of a step made of parts, as each part ends)."""
    fingerprint = _fingerprint(step, job)
    message = _recorded(step, job, fingerprint)
    if message is not None:
        yield StepResult(step.name, message, up_to_date=True)
        return
    if step.ask_first and (step.ask_when_dry or not job.settings.dry):
        ok, message = (step.current or step.status)(job)
        if ok:
            _record(step, job)
            yield StepResult(step.name, message, up_to_date=True)
            return
    if step.parts is not None:
        for part in step.parts(job):
            for result in ensure(job, part):
                yield result
                if result.failure is not None:  # the parts after a failed one never run
                    return
        _record(step, job)
        return
    result = step.ensure(job)
    _record(step, job)
    if result is not None:
        yield result


def _index(name: str) -> int:
    return [step.name for step in STEPS].index(name)


def _needed(name: str) -> set[str]:
    """The step and every step it needs, directly or not."""
    wanted, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current not in wanted:
            wanted.add(current)
            todo.extend(STEPS[_index(current)].needs)
    return wanted


def _until_failure(results: Iterator[StepResult]) -> Iterator[StepResult]:
    """The results up to and with the first failed one: no step runs after a failure,
    whether or not the caller raises it."""
    for result in results:
        yield result
        if result.failure is not None:
            return


def run_through(job: Job, last: str, start: str = "install-prereqs") -> Iterator[StepResult]:
    """Run `last` and the steps it needs (from `start` on), in order, each only if not done,
    yielding each result as its step ends. A failed result ends the chain: the caller raises
    its failure, and the steps after it never run."""
    if _index(last) >= _index("build"):
        frozen.source(job)  # a bad --frozen path fails now, not after the long steps
        cmodules.before_build(job)  # so does a bad C module
    wanted = _needed(last)
    steps = [step for step in STEPS[_index(start):_index(last) + 1] if step.name in wanted]
    return _until_failure(result for step in steps for result in ensure(job, step))


def run_step(job: Job, name: str) -> Iterator[StepResult]:
    return ensure(job, STEPS[_index(name)])


def revert_overlay(job: Job) -> Iterator[StepResult]:
    """`invoke overlay --revert`: put the MicroPython tree back as git has it."""
    yield overlay.revert(job)


def check_config(job: Job) -> Iterator[StepResult]:
    """`invoke config`: the steps the check needs, then the check, whose result carries
    the config report (mpforge.config.check.Report) and fails after it on a mismatch.

    With the idf.python setting the checkouts are used as they are (nothing is
    fetched or installed): the MicroPython tree must be at the release's
    commit and the IDF at its version; only the overlay is placed.
    """
    return _until_failure(_config_chain(job))


def _config_chain(job: Job) -> Iterator[StepResult]:
    if configcheck.own_python(job):
        micropython.check_checkout(job)
        yield from run_step(job, "overlay")
    else:
        for name in STEPS[_index("config")].needs:
            yield from run_step(job, name)
    if job.settings.dry:  # nothing was fetched or placed: there is nothing to resolve yet
        yield from run_step(job, "config")
        return
    yield configcheck.run(job)


def status_rows(job: Job) -> list[tuple[str, bool, str]]:
    """Each step's state; a step is done only when the steps it needs are (mpy-cross built
    from a tree at another release is not done)."""
    rows = []
    done: dict[str, bool] = {}
    for step in STEPS:
        message = _recorded(step, job, _fingerprint(step, job))
        if message is not None:
            ok = True
        else:
            try:
                ok, message = step.status(job)
            except UserError as exc:
                ok, message = False, str(exc)
            except OSError as exc:  # a step whose inputs do not exist yet
                ok, message = False, f"not ready ({exc.strerror or exc})"
        waiting = [name for name in step.needs if not done[name]]
        if ok and waiting:
            ok, message = False, f"waits for {', '.join(waiting)} (now: {message})"
        done[step.name] = ok
        rows.append((step.name, ok, message.replace("\n", "; ")))
    return rows
