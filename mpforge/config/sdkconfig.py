"""The final sdkconfig, resolved offline from a defaults list with the IDF's own Kconfig.

The recipe (docs/esp-idf.md §5, "Offline resolution with
kconfgen", tested for IDF v5.0-v5.5) replays what the IDF's
tools/cmake/kconfig.cmake does at configure time: write config.env, run
tools/kconfig_new/prepare_kconfig_files.py, then kconfgen with the defaults
and `--output json`. No toolchain, no CMake project, about 0.3 s.

The defaults are first concatenated into one sdkconfig.combined, as the
MicroPython port does (ports/esp32/CMakeLists.txt); docs/esp-idf.md §5 shows this
gives the same sdkconfig as passing each file with --defaults.

Everything happens in a temporary directory (in the workdir when the caller
names a scratch folder), removed afterwards: the build dir is never touched,
and kconfgen's own kconfgen_tmp* files land there too (TMPDIR points at it)
instead of piling up in the system temp folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from mpforge.model import chips, releases
from mpforge.errors import UserError

STEP = "config"


@dataclass(frozen=True)
class Resolved:
    values: dict  # sdkconfig.json: option name without CONFIG_ -> value
    warnings: tuple[str, ...]  # kconfgen's warnings, e.g. unknown symbols
    combined: str  # the concatenated defaults kconfgen was given


def combine(files) -> str:
    """The defaults files joined as the port joins them (file(READ) + file(APPEND): no separator)."""
    parts = []
    for path in files:
        try:
            parts.append(Path(path).read_text())
        except OSError as exc:
            raise UserError(STEP, f"cannot read sdkconfig defaults file {path}: {exc.strerror}") from None
    return "".join(parts)


def _component_files(idf_dir: Path, pattern: str) -> list[str]:
    return [str(p) for p in sorted((idf_dir / "components").glob(f"*/{pattern}")) if p.is_file()]


def config_env(idf_dir: Path, idf_version: str, out: Path, target: str) -> dict:
    """config.env as tools/cmake/kconfig.cmake writes it; keys the checkout's config.env.in lacks are left out
    (v5.0/v5.1 have no IDF_TOOLCHAIN and IDF_VERSION)."""
    major, minor, patch = releases.version_tuple(idf_version)
    env = {
        "COMPONENT_KCONFIGS": ";".join(_component_files(idf_dir, "Kconfig")),
        "COMPONENT_KCONFIGS_PROJBUILD": ";".join(_component_files(idf_dir, "Kconfig.projbuild")),
        "COMPONENT_SDKCONFIG_RENAMES": ";".join(_component_files(idf_dir, "sdkconfig.rename")
                                                + _component_files(idf_dir, f"sdkconfig.rename.{target}")),
        "IDF_TARGET": target,
        "IDF_TOOLCHAIN": "gcc",
        "IDF_VERSION": f"{major}.{minor}.{patch}",
        "IDF_ENV_FPGA": "",
        "IDF_PATH": str(idf_dir),
        "COMPONENT_KCONFIGS_SOURCE_FILE": str(out / "kconfigs.in"),
        "COMPONENT_KCONFIGS_PROJBUILD_SOURCE_FILE": str(out / "kconfigs_projbuild.in"),
    }
    template = idf_dir / "tools" / "kconfig_new" / "config.env.in"
    if template.is_file():
        text = template.read_text()
        env = {k: v for k, v in env.items() if f'"{k}"' in text}
    return env


def kconfgen_command(python: str, idf_dir: Path, idf_version: str) -> list[str]:
    """v5.1+: the esp-idf-kconfig package (`-m kconfgen`); v5.0.x: the checkout's own confgen.py."""
    if releases.version_tuple(idf_version) < (5, 1, 0):
        return [python, str(idf_dir / "tools" / "kconfig_new" / "confgen.py")]
    return [python, "-m", "kconfgen"]


def resolve(idf_dir: Path, idf_version: str, defaults, python: str, env: dict | None = None,
            scratch: Path | None = None, wrap: Callable[[list[str], Path], list[str]] | None = None,
            target: str | None = None) -> Resolved:
    """Resolve the defaults files (in order, later ones win) against the IDF's Kconfig.

    python: the interpreter with the IDF's kconfgen requirements (the IDF's own venv).
    env: the environment to run it in (the exported IDF environment), else ours.
    scratch: the folder to work in (one of the workdir), else the system temp folder; with wrap,
             it must be one the wrapped command sees (the container backend mounts the workdir).
    wrap: turns each command into the one that runs it (the container backend's `engine run`).
    target: the IDF_TARGET (default: the registry's default chip).
    """
    target = target or chips.default().idf_target
    version = releases.version_tuple(idf_version)
    for needed in (idf_dir / "Kconfig", idf_dir / "tools" / "kconfig_new" / "prepare_kconfig_files.py"):
        if not needed.is_file():
            raise UserError(STEP, f"{idf_dir} is not an ESP-IDF checkout ({needed.relative_to(idf_dir)} is missing)")
    combined = combine(defaults)
    run_env = dict(env if env is not None else os.environ)
    run_env.update({"IDF_PATH": str(idf_dir), "IDF_TARGET": target})
    for key in ("PYTHONPATH", "PYTHONHOME"):
        run_env.pop(key, None)
    if scratch is not None:
        scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mpforge-sdkconfig-", dir=scratch) as tmp:
        out = Path(tmp)
        run_env["TMPDIR"] = tmp  # kconfgen's mkstemp files go here and go away with it
        (out / "sdkconfig.combined").write_text(combined)
        env_file = out / "config.env"
        env_file.write_text(json.dumps(config_env(idf_dir, idf_version, out, target), indent=4))
        _run([python, str(idf_dir / "tools" / "kconfig_new" / "prepare_kconfig_files.py"),
              "--list-separator=semicolon", "--env-file", str(env_file)], run_env, out, "prepare_kconfig_files.py", wrap)
        cmd = kconfgen_command(python, idf_dir, idf_version) + [
            "--list-separator=semicolon",
            "--kconfig", str(idf_dir / "Kconfig"),
            "--sdkconfig-rename", str(idf_dir / "sdkconfig.rename"),
            "--config", str(out / "sdkconfig"),
            "--defaults", str(out / "sdkconfig.combined"),
        ]
        if version >= (5, 5, 0):
            cmd += ["--env", "IDF_MINIMAL_BUILD=n"]
        cmd += ["--env-file", str(env_file)]
        if version >= (5, 2, 0):
            cmd += ["--env", f"IDF_INIT_VERSION={version[0]}.{version[1]}.{version[2]}"]
        cmd += ["--output", "config", str(out / "sdkconfig"), "--output", "json", str(out / "sdkconfig.json")]
        result = _run(cmd, run_env, out, "kconfgen", wrap)
        try:
            values = json.loads((out / "sdkconfig.json").read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(STEP, f"kconfgen wrote no usable sdkconfig.json ({exc})") from None
        # Unknown symbols only give a message (esp-idf-kconfig 2.x "warning:", 3.x "NOTE:"); they are
        # options of components the offline run does not see (managed components) or typos.
        warnings = tuple(
            line.strip().removeprefix("NOTE: ").replace(str(out / "sdkconfig.combined"), "the defaults")
            for line in (result.stdout + result.stderr).splitlines()
            if "warning" in line.lower() or "unknown kconfig symbol" in line.lower())
    return Resolved(values, warnings, combined)


def _run(cmd: list[str], env: dict, cwd: Path, what: str,
         wrap: Callable[[list[str], Path], list[str]] | None = None) -> subprocess.CompletedProcess:
    if wrap is not None:
        cmd = wrap(cmd, cwd)
    try:
        result = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise UserError(STEP, f"cannot run {cmd[0]} ({exc.strerror}); is the ESP-IDF Python environment "
                        "installed? (run `invoke install-prereqs`)") from None
    if result.returncode != 0:
        lines = [l for l in (result.stderr or result.stdout).strip().splitlines() if l.strip()]
        last = lines[-1].strip() if lines else f"exit code {result.returncode}"
        raise UserError(STEP, f"{what} failed for the sdkconfig defaults: {last}")
    return result
