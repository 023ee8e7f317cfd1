"""ESP-IDF: the checkout at the version a release needs, its tools, its environment.

Facts in docs/esp-idf.md §2-§4: install.sh and export.sh must run
outside mpforge's own virtualenv and without stale IDF_* variables (§2, §3);
export.sh returns 0 even when it fails from IDF 5.4 on, so the captured
environment is checked here (§3); the version is read from
tools/cmake/version.cmake, which needs no git (§4).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from mpforge.source import gitsrc
from mpforge.model import releases
from mpforge import shell
from mpforge import state
from mpforge import events
from mpforge.results import StepResult
from mpforge.errors import UserError
from mpforge.model.settings import Job

STEP = "install-prereqs"

# Variables an earlier `. export.sh` leaves behind; a new one must not see them.
_STALE = ("IDF_PATH", "IDF_PYTHON_ENV_PATH", "ESP_IDF_VERSION", "IDF_DEACTIVATE_FILE_PATH",
          "IDF_TOOLS_EXPORT_CMD", "IDF_TOOLS_INSTALL_CMD", "OPENOCD_SCRIPTS", "ESP_ROM_ELF_DIR",
          "VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH")

_VERSION_LINE = re.compile(r"^\s*set\s*\(\s*IDF_VERSION_(MAJOR|MINOR|PATCH)\s+(\d+)", re.M)


def version_of(idf_dir: Path) -> str | None:
    """'v5.5.1' from an IDF tree's tools/cmake/version.cmake, None if it is not an IDF."""
    try:
        text = (idf_dir / "tools" / "cmake" / "version.cmake").read_text()
    except OSError:
        return None
    parts = dict(_VERSION_LINE.findall(text))
    if set(parts) != {"MAJOR", "MINOR", "PATCH"}:
        return None
    return f"v{parts['MAJOR']}.{parts['MINOR']}.{parts['PATCH']}"


def check_compatible(job: Job) -> None:
    """The IDF asked for must be one the release accepts."""
    wanted, release = job.idf_version, job.release
    if releases.version_tuple(wanted) < releases.version_tuple(release.idf_min):
        raise UserError(
            f"micropython {release.version} needs ESP-IDF {release.idf_min} or newer "
            f"(it is built and tested with {release.idf}); idf.version is {wanted}"
        )


def scrubbed_env(tools_path: Path) -> dict:
    """The environment for install.sh / export.sh: no venv of ours, no old IDF."""
    env = {k: v for k, v in os.environ.items() if k not in _STALE}
    drop = []
    if sys.prefix != sys.base_prefix:  # running inside a virtualenv: hide its bin/
        drop.append(str(Path(sys.prefix) / "bin"))
    drop.append(str(tools_path))
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if p and not any(p.startswith(d) for d in drop)
    )
    env["IDF_TOOLS_PATH"] = str(tools_path)
    return env


def _stamp_name(job: Job) -> str:
    return f"idf-{job.idf_version}-{state.digest(str(job.idf_dir), str(job.settings.idf_tools_path))}"


def status(job: Job) -> tuple[bool, str]:
    """Cheap: the checkout is at the stamped commit and the stamp says installed."""
    idf_dir = job.idf_dir
    if not gitsrc.is_checkout(idf_dir):
        return False, f"ESP-IDF {job.idf_version} not cloned at {idf_dir}"
    stamp = state.read(job.settings.state_dir, _stamp_name(job))
    if not stamp or stamp.get("commit") != gitsrc.head(idf_dir):
        return False, f"ESP-IDF {job.idf_version} tools not installed"
    return True, f"ESP-IDF {job.idf_version} at {stamp['commit'][:7]} with tools for {job.chip.idf_target}"


def inputs(job: Job) -> list:
    """What status reads, cheaply (no git run): the pipeline's up-to-date stamp hashes it."""
    idf_dir = job.idf_dir
    head = gitsrc.head(idf_dir) if gitsrc.is_checkout(idf_dir) else "not cloned"
    return [head, job.settings.state_dir / f"{_stamp_name(job)}.json", idf_dir / "tools" / "cmake" / "version.cmake"]


def current(job: Job) -> tuple[bool, str]:
    """The pipeline's question before ensure: the IDF suits the release, and is in place."""
    check_compatible(job)
    return status(job)


def ensure(job: Job) -> StepResult | None:
    """Clone (or check) the IDF, its submodules and tools; stamp when all is in place."""
    dry, idf_dir = job.settings.dry, job.idf_dir
    if job.settings.idf_dir:
        _check_user_checkout(job)
    elif not idf_dir.exists():
        if not dry:  # a dry run's `would run: git clone ...` says it
            events.note(STEP, f"cloning ESP-IDF {job.idf_version} into {idf_dir} (a few minutes)")
        gitsrc.clone(STEP, job.settings.idf_url, idf_dir, job.idf_version, job.idf_commit or None, dry=dry)
    else:
        _check_user_checkout(job, ours=True)
    if not dry:
        found = version_of(idf_dir)
        if found != job.idf_version:
            raise UserError(STEP, f"{idf_dir} is ESP-IDF {found or 'of unknown version'}, expected "
                                  f"{job.idf_version}; check it out at {job.idf_version} or set idf.dir to "
                                  f"one that is, then {job.retry}")
    if dry or gitsrc.missing_submodules(idf_dir, recursive=True):
        if not dry:
            events.note(STEP, "fetching ESP-IDF submodules")
        gitsrc.update_submodules(STEP, idf_dir, recursive=True, dry=dry)
    _install_tools(job)
    if dry:
        return None
    environment(job, refresh=True)  # proves the install worked
    state.write(job.settings.state_dir, _stamp_name(job), {"commit": gitsrc.head(idf_dir),
                                                             "version": job.idf_version})
    return StepResult(STEP, f"ESP-IDF {job.idf_version} ready")


def _check_user_checkout(job: Job, ours: bool = False) -> None:
    idf_dir = job.idf_dir
    what = "the ESP-IDF clone" if ours else "idf.dir"
    gitsrc.require_checkout(idf_dir, what, not_git="clone ESP-IDF with git, not from an archive")
    found = version_of(idf_dir)
    if found is None:
        raise UserError(f"{what} {idf_dir} is not an ESP-IDF tree (no tools/cmake/version.cmake)")
    if found != job.idf_version:
        try:
            accepted = releases.version_tuple(found) >= releases.version_tuple(job.release.idf_min)
        except ValueError:
            accepted = False
        other = (f", or set idf.version to {found}" if accepted else
                 f" ({found} is older than {job.release.idf_min}, the oldest ESP-IDF "
                 f"micropython {job.release.version} accepts)")
        raise UserError(
            f"{what} {idf_dir} is ESP-IDF {found}, but micropython {job.release.version} is built with "
            f"{job.idf_version}; check out {job.idf_version} there{other}"
        )
    head = gitsrc.head(idf_dir)
    if job.idf_commit and head != job.idf_commit:
        # Same version, other commit: local patches, or a tag that moved. Say so; it may be on purpose.
        events.warn(STEP, f"{idf_dir} is at {head[:7]}, not {job.idf_commit[:7]} where ESP-IDF {job.idf_version} "
                          "was tagged; building with it as it is")


def _install_tools(job: Job) -> None:
    """install.sh <target>: idempotent on its own (it skips installed tools)."""
    idf_dir, tools = job.idf_dir, job.settings.idf_tools_path
    cmd = ["bash", str(idf_dir / "install.sh"), job.chip.idf_target]
    if job.settings.dry:
        shell.run(STEP, cmd, dry=True)
        return
    events.note(STEP, f"installing ESP-IDF tools for {job.chip.idf_target} into {tools} (first time: several minutes)")
    log = job.settings.state_dir / f"install-{job.idf_version}.log"
    try:  # install.sh's current line as activity (tool downloads, pip installs)
        code = shell.stream(STEP, cmd, cwd=idf_dir, env=scrubbed_env(tools), log=log,
                            on_line=lambda line: events.activity(STEP, line[:100]))
    finally:
        events.done(STEP)
    if code != 0:
        raise UserError(STEP, f"ESP-IDF install.sh failed (exit {code}); its last lines in {log} say why "
                              "(often: no network to github.com or dl.espressif.com, a proxy, or no free "
                              f"space); then {job.retry} retries")


def environment(job: Job, refresh: bool = False) -> dict:
    """The environment `. export.sh` gives, over the current one.

    Only what export.sh changed is cached (per IDF commit), so variables set
    later, such as CCACHE_DIR, still reach the build.
    """
    idf_dir, tools = job.idf_dir, job.settings.idf_tools_path
    cache = job.settings.state_dir / f"env-{job.idf_version}-{state.digest(str(idf_dir), str(tools))}.json"
    commit = gitsrc.head(idf_dir)
    delta = None
    if not refresh and cache.is_file():
        try:
            saved = json.loads(cache.read_text())
            delta = saved["delta"] if saved.get("commit") == commit else None
        except (json.JSONDecodeError, KeyError):
            delta = None
    if delta is None:
        delta = _capture(job)
        state.atomic_write(cache, json.dumps({"commit": commit, "delta": delta}))
    env = scrubbed_env(tools)
    env.update(delta["set"])
    env["PATH"] = os.pathsep.join(delta["path_prefix"] + [env.get("PATH", "")])
    return env


def _capture(job: Job) -> dict:
    """Run export.sh once; return what it set and the PATH entries it put in front."""
    base = scrubbed_env(job.settings.idf_tools_path)
    shell.require(STEP, "bash")
    result = subprocess.run(
        ["bash", "-c", '. "$0/export.sh" >/dev/null 2>&1 && env -0', str(job.idf_dir)],
        env=base, capture_output=True, stdin=subprocess.DEVNULL,
    )
    env = dict(item.split("=", 1) for item in result.stdout.decode(errors="replace").split("\0") if "=" in item)
    _validate_env(job, env, result.returncode)
    old_path = set(base.get("PATH", "").split(os.pathsep))
    return {
        "set": {k: v for k, v in env.items() if k != "PATH" and base.get(k) != v and k not in ("_", "SHLVL", "PWD", "OLDPWD")},
        "path_prefix": [p for p in env.get("PATH", "").split(os.pathsep) if p and p not in old_path],
    }


def _validate_env(job: Job, env: dict, code: int) -> None:
    """export.sh's exit code is not to be trusted (IDF 5.4+): check what it set."""
    idf_dir = job.idf_dir
    hint = f"run `invoke install-prereqs` (or `bash {idf_dir}/install.sh {job.chip.idf_target}`)"
    major_minor = ".".join(job.idf_version.lstrip("v").split(".")[:2])
    if code != 0 or env.get("ESP_IDF_VERSION") != major_minor:
        raise UserError(f"ESP-IDF {job.idf_version} environment could not be set up by export.sh; {hint}")
    if Path(env.get("IDF_PATH", "")).resolve() != idf_dir.resolve():
        raise UserError(f"export.sh set IDF_PATH to {env.get('IDF_PATH')!r}, expected {idf_dir}; {hint}")
    idf_py = shutil.which("idf.py", path=env.get("PATH", ""))
    if not idf_py or Path(idf_py).resolve().parent != (idf_dir / "tools").resolve():
        raise UserError(f"idf.py of {idf_dir} is not on the exported PATH; {hint}")
