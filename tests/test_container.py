"""The container backend: the build chain run inside the release's ESP-IDF image.

No container engine runs in CI, so the engine is simulated by
tests/harness/sim_engine.py (see its docstring: images are simulated IDF trees,
`run` allows only paths under its bind mounts and imitates the image's
entrypoint). Everything else is real: invoke, git clones of repositories made
by the tests, the overlay, the config check with kconfgen, the image checks
and the stamps.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, one_line_error
from harness.fake_repos import add_idf_tree

BUILD = "ports/esp32/build-ESP32_GENERIC_S3-FLASH_16M_SPIRAM_OCT"
IMAGE_TAGS = ("v5.0.4", "v5.2.2", "v5.5.1")


@pytest.fixture(scope="session")
def images(tmp_path_factory):
    """The simulated engine's images: one simulated ESP-IDF per tag, its tools installed."""
    root = tmp_path_factory.mktemp("images")
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env.update(SIM_IDF_PYTHON=sys.executable, SIM_CMAKE=shutil.which("cmake") or "")
    for tag in IMAGE_TAGS:
        add_idf_tree(root / tag, tag)
        subprocess.run(["bash", str(root / tag / "install.sh"), "esp32s3"], check=True, capture_output=True,
                       env={**env, "IDF_TOOLS_PATH": str(root / tag / ".tools")})
    return root


@pytest.fixture
def engine(tmp_path, images):
    """A `docker` on PATH that is the simulated engine; returns (env, calls())."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program = bin_dir / "docker"
    program.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{ROOT / "tests/harness/sim_engine.py"}" "$@"\n')
    program.chmod(0o755)
    log = tmp_path / "engine.log"
    state = tmp_path / "engine-state"
    state.mkdir()
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "SIM_ENGINE_LOG": str(log),
           "SIM_ENGINE_IMAGES": str(images), "SIM_ENGINE_STATE": str(state),
           "SIM_BUILD_LOG": str(tmp_path / "builds.log")}

    def calls() -> list[list[str]]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return env, calls


def _runs(calls):
    return [c for c in calls if c[1] == "run"]


def _option_values(call, option):
    return [call[i + 1] for i, word in enumerate(call) if word == option]


def test_container_build_mounts_user_image_and_second_run_skips(mp, engine, tmp_path):
    env, calls = engine
    first = mp("build-all", "--backend", "container", "--micropython", "v1.28.0", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    work = tmp_path / "work"
    assert (work / "micropython/v1.28.0" / BUILD / "micropython.bin").is_file()
    assert "images checked: ESP32-S3, 16MB in the header" in first.stdout
    assert not (work / "esp-idf").exists()  # no IDF clone on the host ...
    assert not (tmp_path / "espressif" / "install.log").exists()  # ... and no install.sh
    assert [c[1:] for c in calls() if c[1] == "pull"] == [["pull", "espressif/idf:v5.5.1"]]
    runs = _runs(calls())
    makes = [c for c in runs if "make" in c]
    assert len(makes) == 2  # mpy-cross and the firmware, both inside the image
    firmware = next(c for c in makes if any(w.startswith("BOARD=") for w in c))
    assert _option_values(firmware, "--user") == [f"{os.getuid()}:{os.getgid()}"]
    assert _option_values(firmware, "-v") == [f"{work}:{work}"]  # the MicroPython tree is inside the workdir
    assert firmware[firmware.index("-w") + 1] == str(work / "micropython/v1.28.0/ports/esp32")
    assert firmware[firmware.index("-w") + 2] == "espressif/idf:v5.5.1"
    assert any("kconfgen" in " ".join(c) for c in runs)  # the config check resolved inside the image

    before = len(calls())
    second = mp("build-all", "--backend", "container", "--micropython", "v1.28.0", env=env)
    assert second.returncode == 0, second.stderr
    lines = [l for l in second.stdout.splitlines() if not l.startswith("==")]
    assert all(l.endswith("up to date") for l in lines), lines
    assert calls()[before:] == []  # a no-op asks the engine nothing
    assert len((tmp_path / "builds.log").read_text().splitlines()) == 1


@pytest.mark.parametrize("release, tag", [("v1.23.0", "v5.0.4"), ("v1.24.1", "v5.2.2"), ("v1.28.0", "v5.5.1"),
                                          ("v1.29.0", "v5.5.2")])
def test_dry_run_prints_the_full_container_command_with_the_release_image(mp, engine, release, tag):
    env, calls = engine
    result = mp("--dry", "build", "--backend", "container", "--micropython", release, env=env)
    assert result.returncode == 0, result.stderr
    assert f"pull espressif/idf:{tag}" in result.stdout
    make = next(l for l in result.stdout.splitlines() if "BOARD_VARIANT=" in l)
    assert f"run --rm --init --user {os.getuid()}:{os.getgid()}" in make
    assert f"espressif/idf:{tag} make -C" in make
    assert [c for c in calls() if c[1] in ("run", "pull")] == []  # dry: nothing ran


def test_frozen_folder_outside_the_workdir_is_mounted(mp, engine, tmp_path):
    env, calls = engine
    app = tmp_path / "myapp"
    app.mkdir()
    (app / "hello.py").write_text("print('hi')\n")
    result = mp("build", "--backend", "container", "--frozen", str(app), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    firmware = next(c for c in _runs(calls()) if any(w.startswith("BOARD=") for w in c))
    assert f"{tmp_path}:{tmp_path}" in _option_values(firmware, "-v")


def test_the_simulated_engine_refuses_an_unmounted_path(engine, images, tmp_path):
    """The mount check the other tests rely on: a path outside every mount is refused."""
    env, _calls = engine
    outside = tmp_path / "outside"
    outside.mkdir()
    cmd = ["docker", "run", "--rm", "-v", f"{tmp_path / 'bin'}:{tmp_path / 'bin'}", "-w", str(outside),
           "espressif/idf:v5.5.1", "true"]
    result = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True)
    assert result.returncode != 0 and "is not mounted" in result.stderr


@pytest.mark.parametrize("case, args, extra_env, message", [
    ("no engine", [], {"PATH": "/usr/bin:/bin"},
     "no container engine found: install docker or podman"),
    ("unknown engine", [], {"INVOKE_MPFORGE_CONTAINER_ENGINE": "nerdctl"},
     "container engine 'nerdctl' (setting container.engine) not found on PATH"),
    ("engine down", [], {"SIM_ENGINE_DOWN": "1"},
     "docker is installed but not running (Cannot connect to the Docker daemon"),
    ("image not pullable", [], {"INVOKE_MPFORGE_CONTAINER_IMAGE": "espressif/idf:{idf}-nosuch"},
     "cannot pull espressif/idf:v5.5.1-nosuch: Error response from daemon: manifest for"),
    ("bad image name", [], {"INVOKE_MPFORGE_CONTAINER_IMAGE": "Not An Image"},
     "setting container.image gives 'Not An Image', which is not an image name"),
    ("bad backend", ["--backend", "vm"], {}, "settings: build.backend is 'vm'; use native or container"),
])
def test_container_bad_inputs_are_one_line(mp, engine, case, args, extra_env, message):
    env, _calls = engine
    result = mp("build", *(args or ["--backend", "container"]), env={**env, **extra_env})
    assert result.returncode != 0, case
    assert message in one_line_error(result), (case, result.stderr)


def test_a_workdir_that_cannot_be_mounted_is_one_line(mp, engine, tmp_path):
    env, calls = engine
    result = mp("build", "--backend", "container", env={**env, "INVOKE_MPFORGE_WORKDIR": str(tmp_path / "a:b")})
    assert result.returncode != 0
    assert "cannot be mounted into a container (':' ',' or a control character in the path)" in one_line_error(result)
    assert _runs(calls()) == []


@pytest.mark.skipif(not os.environ.get("MPFORGE_REAL_ENGINE"),
                    reason="opt-in: set MPFORGE_REAL_ENGINE=1 where docker or podman runs and can pull espressif/idf")
def test_real_engine_builds(invoke_run):  # pragma: no cover - needs a real engine and the network
    """One real container build against upstream sources (network, a running engine, minutes)."""
    result = invoke_run("build-all", "--backend", "container", timeout=3600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr


def test_container_build_mounts_each_c_module_folder(mp, engine, tmp_path):
    """A C module outside the workdir is mounted at its own path: the build's CMake reads it there."""
    from test_cmodules import c_module

    env, calls = engine
    mod = c_module(tmp_path / "mods" / "demo")
    result = mp("build", "--backend", "container", "--c-module", str(mod / "micropython.cmake"), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    firmware = next(c for c in _runs(calls()) if any(w.startswith("USER_C_MODULES=") for w in c))
    assert f"{mod}:{mod}" in _option_values(firmware, "-v")
