"""Where the IDF's programs run: natively (an ESP-IDF installed here) or in a
container (Espressif's ESP-IDF image of the release's IDF tag).

The build chain asks this module, and only this module, for the ESP-IDF:
whether it is ready, what identifies it in a stamp, how to run make in it,
and which Python resolves the sdkconfig. Everything else (fetch, overlay,
the config check's comparison, the image checks, frozen modules, stamps) is
the same for both backends.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from mpforge import events, shell, state
from mpforge.errors import UserError
from mpforge.results import StepResult
from mpforge.model.settings import Job
from mpforge.source import container as engine
from mpforge.source import gitsrc, idf

# The IDF files the offline sdkconfig resolution reads, copied out of the
# image once per IDF version (docs/containers.md): every Kconfig and rename
# file, the kconfig tools and the version file. Fixed text: only the
# destination is passed, as "$1".
_EXTRACT = (
    'set -e; cd "$IDF_PATH"; '
    'find . \\( -path ./examples -o -path ./.git -o -path ./tools/ci \\) -prune -o '
    '\\( -name "Kconfig*" -o -name "sdkconfig.rename*" \\) -type f -print > "$1/.files"; '
    'tar cf - -T "$1/.files" tools/kconfig_new tools/cmake/version.cmake | tar xf - -C "$1"; '
    'rm "$1/.files"'
)


@dataclass(frozen=True)
class Kconfig:
    """What resolves the sdkconfig: a Python, its environment, and a command wrapper."""

    python: str
    env: dict | None
    wrap: Callable[[list[str], Path], list[str]] | None = None


def is_container(job: Job) -> bool:
    return job.settings.backend == "container"


def container_for(job: Job) -> engine.Container:
    """The engine, the release's IDF image, and the folders a build of this job reads or writes."""
    image = engine.image_name(job.settings.container_image, job.idf_version)
    program = engine.find_engine(job.settings.container_engine)
    modules = (m.parent if m.is_file() else m for m in job.settings.c_modules)  # C modules' folders
    mounts = engine.mounts_for(job.settings.workdir, job.mp_dir, job.frozen.parent if job.frozen else None, *modules)
    return engine.Container(program, image, mounts)


# ---- install-prereqs: the IDF is ready ---------------------------------------------------

def _image_stamp(job: Job) -> str:
    return f"idf-image-{job.idf_version}"


def status(job: Job) -> tuple[bool, str]:
    """Cheap, no engine call: the stamp names this image and its Kconfig files are in place."""
    if not is_container(job):
        return idf.status(job)
    image = engine.image_name(job.settings.container_image, job.idf_version)
    stamp = state.read(job.settings.state_dir, _image_stamp(job)) or {}
    if stamp.get("image") != image or idf.version_of(job.idf_dir) != job.idf_version:
        return False, f"container image {image} not pulled"
    return True, f"container image {image} pulled, its Kconfig files in {job.idf_dir}"


def inputs(job: Job) -> list:
    """What status reads, cheaply (no engine, no git run): the pipeline's up-to-date stamp hashes it."""
    if not is_container(job):
        return idf.inputs(job)
    image = engine.image_name(job.settings.container_image, job.idf_version)
    return [image, job.settings.state_dir / f"{_image_stamp(job)}.json",
            job.idf_dir / "tools" / "cmake" / "version.cmake"]


def current(job: Job) -> tuple[bool, str]:
    """The pipeline's question before ensure: the IDF suits the release, and is in place."""
    idf.check_compatible(job)
    return status(job)


def ensure(job: Job) -> StepResult | None:
    """The IDF (native) or the container image with its Kconfig files (the pipeline asks current first)."""
    if not is_container(job):
        return idf.ensure(job)
    box = container_for(job)
    if job.settings.dry:
        events.would("install-prereqs", shell.quote([box.engine, "pull", box.image]))
        return None
    engine.check_running(box)
    if not engine.has_image(box):
        events.note("install-prereqs", f"pulling {box.image} with {box.engine_name} (first time: several minutes)")
        engine.pull(box, job.settings.state_dir / f"pull-{job.idf_version}.log")
    _extract_kconfig(job, box)
    state.write(job.settings.state_dir, _image_stamp(job), {"image": box.image})
    return StepResult("install-prereqs", f"container image {box.image} ready")


def _extract_kconfig(job: Job, box: engine.Container) -> None:
    """Copy the IDF's Kconfig files out of the image, so `invoke config` can resolve offline as natively."""
    dest = job.idf_dir
    tmp = dest.with_name(dest.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    only_workdir = engine.Container(box.engine, box.image, engine.mounts_for(job.settings.workdir))
    shell.run("install-prereqs", only_workdir.command(["sh", "-c", _EXTRACT, "sh", str(tmp)], cwd=tmp),
              capture=True)
    if idf.version_of(tmp) != job.idf_version:
        raise UserError(f"install-prereqs: {box.image} holds ESP-IDF {idf.version_of(tmp) or 'of unknown version'}, "
                        f"expected {job.idf_version}; check the container.image setting")
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)


# ---- what the other steps need -----------------------------------------------------------

def identity(job: Job) -> str:
    """What names the IDF in a build stamp: the checkout's commit, or the image."""
    if is_container(job):
        return engine.image_name(job.settings.container_image, job.idf_version)
    return gitsrc.head(job.idf_dir)


def is_ready(job: Job) -> bool:
    """The IDF a build needs exists (cheap; the stamps say whether it is current)."""
    if is_container(job):
        return idf.version_of(job.idf_dir) is not None
    return gitsrc.is_checkout(job.idf_dir)


def command(job: Job, cmd: list[str], cwd: Path) -> list[str]:
    """cmd as it runs: unchanged natively, inside the IDF image for the container backend."""
    return container_for(job).command(cmd, cwd) if is_container(job) else cmd


def build_env(job: Job, step: str) -> dict:
    """The environment to run the build in; the container backend checks its engine is up first."""
    if is_container(job):
        engine.check_running(container_for(job))
        return dict(os.environ)
    env = idf.environment(job)
    shell.require(step, "make", "cmake", path=env.get("PATH"))
    return env


def host_tools(job: Job, step: str, *tools: str) -> None:
    """Programs a step runs on this machine natively; in the container the image has them."""
    if not is_container(job):
        shell.require(step, *tools)


def kconfig(job: Job, own_python: str | None) -> Kconfig:
    """The Python that resolves the sdkconfig: the idf.python setting, the IDF's own venv, or the image's."""
    if own_python:
        return Kconfig(own_python, None)
    if is_container(job):
        box = container_for(job)
        return Kconfig("python", None, lambda cmd, cwd: box.command(cmd, cwd, {"IDF_TARGET": job.profile.chip}))
    env = idf.environment(job)
    venv = env.get("IDF_PYTHON_ENV_PATH")
    if not venv:
        raise UserError("config: the ESP-IDF environment has no IDF_PYTHON_ENV_PATH; run `invoke install-prereqs`")
    return Kconfig(str(Path(venv) / "bin" / "python"), env)
