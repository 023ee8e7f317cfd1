"""mpy-cross, MicroPython's bytecode compiler, built with the host compiler.

Up to date when the binary is newer than every source it is built from
(mpy-cross/ and py/; docs/micropython-esp32.md, mpy-cross).
"""

from __future__ import annotations

import os
from pathlib import Path

from mpforge import shell
from mpforge import ui
from mpforge.results import StepResult
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
    """Build it (the pipeline asks status first)."""
    if not job.settings.dry:
        toolchain.host_tools(job, STEP, "make", "cc")
    ui.say(STEP, f"building mpy-cross with {job.settings.jobs} job(s)")
    cmd = ["make", "-C", str(job.mp_dir / "mpy-cross"), f"-j{job.settings.jobs}"]
    shell.run(STEP, toolchain.command(job, cmd, job.mp_dir),
              dry=job.settings.dry, capture=True)
    if job.settings.dry:
        return None
    return StepResult(STEP, f"built {binary(job).relative_to(job.mp_dir)}")
