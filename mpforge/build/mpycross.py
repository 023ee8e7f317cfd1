"""mpy-cross, MicroPython's bytecode compiler, built with the host compiler.

Up to date when the binary is newer than every source it is built from
(mpy-cross/ and py/; docs/micropython-esp32.md, mpy-cross).
"""

from __future__ import annotations

import os
from pathlib import Path

from mpforge import shell
from mpforge import events
from mpforge.results import StepResult
from mpforge.errors import UserError
from mpforge.model.settings import Job
from mpforge.source import toolchain

STEP = "mpy-cross"
_SOURCES = (".c", ".h", ".mk", ".py")


def binary(job: Job) -> Path:
    return job.mp_dir / "mpy-cross" / "build" / "mpy-cross"


def _newest_source(job: Job) -> float:
    newest = 0.0
    for folder in (job.mp_dir / "mpy-cross", job.mp_dir / "py"):
        for entry in os.scandir(folder):
            if entry.is_file() and (entry.name.endswith(_SOURCES) or entry.name == "Makefile"):
                newest = max(newest, entry.stat().st_mtime)
    return newest


def status(job: Job) -> tuple[bool, str]:
    exe = binary(job)
    if not exe.is_file():
        return False, "mpy-cross not built"
    if exe.stat().st_mtime < _newest_source(job):
        return False, "mpy-cross older than its sources"
    return True, f"{exe.relative_to(job.mp_dir)} newer than its sources"


def ensure(job: Job) -> StepResult | None:
    """Build it (the pipeline asks status first), counting the files make compiles."""
    cmd = toolchain.command(job, ["make", "-C", str(job.mp_dir / "mpy-cross"), f"-j{job.settings.jobs}"],
                            job.mp_dir)
    if job.settings.dry:  # its `would run: make ...` says what it would build
        shell.run(STEP, cmd, dry=True)
        return None
    toolchain.host_tools(job, STEP, "make", "cc")
    events.note(STEP, f"building mpy-cross with {job.settings.jobs} job(s)")
    log = job.settings.state_dir / f"mpy-cross-{job.release.version}.log"
    compiled = []

    def on_line(line: str) -> None:  # make prints "CC ../py/parse.c" per file it compiles
        if line.startswith("CC "):
            compiled.append(line)
            events.activity(STEP, f"{len(compiled)} files compiled ({line[3:].strip()})")

    try:
        code = shell.stream(STEP, cmd, cwd=job.mp_dir, env=dict(os.environ), log=log, on_line=on_line)
    finally:
        events.done(STEP)
    if code != 0:
        raise UserError(STEP, f"make failed with exit code {code}", hint=f"full log: {log}")
    return StepResult(STEP, f"built {binary(job).relative_to(job.mp_dir)} ({len(compiled)} files compiled)")
