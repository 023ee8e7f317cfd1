"""The pipeline through the real invoke tasks, against real git repositories
made by the tests and a simulated ESP-IDF.

The simulated IDF (tests/fixtures/idf) stands in for what cannot exist in CI:
the xtensa toolchain and the IDF's downloads. install.sh, export.sh and the
build behave like the real ones where mpforge depends on them (install.sh
refuses a virtualenv, export.sh returns 0 on failure, an existing sdkconfig
keeps its values) and the build writes valid ESP32-S3 images.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, one_line_error
from harness.fake_repos import git

BUILD = "ports/esp32/build-ESP32_GENERIC_S3-FLASH_16M_SPIRAM_OCT"
STEPS = ("install-prereqs", "fetch", "mpy-cross", "overlay", "config", "build")


def counts(tmp_path):
    """(builds run, install.sh runs) so far in this test's workdir."""
    log = tmp_path / "builds.log"
    installs = tmp_path / "espressif" / "install.log"
    return (len(log.read_text().splitlines()) if log.exists() else 0,
            len(installs.read_text().splitlines()) if installs.exists() else 0)


def test_build_all_twice_second_run_does_nothing(mp, tmp_path):
    env = {"SIM_BUILD_LOG": str(tmp_path / "builds.log")}
    first = mp("build-all", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    work = tmp_path / "work"
    build = work / "micropython/v1.28.0" / BUILD
    assert (build / "firmware.bin").is_file() and (build / "flasher_args.json").is_file()
    assert (work / "micropython/v1.28.0/lib/micropython-lib/README.md").is_file()  # submodules
    assert (work / "micropython/v1.28.0/mpy-cross/build/mpy-cross").is_file()
    assert "images checked: ESP32-S3, 16MB in the header" in first.stdout
    assert counts(tmp_path) == (1, 1)

    second = mp("build-all", env=env)
    assert second.returncode == 0, second.stderr
    assert counts(tmp_path) == (1, 1)  # no build, no install
    lines = [l for l in second.stdout.splitlines() if not l.startswith("==")]
    assert [l.split(":")[0] for l in lines] == list(STEPS)
    assert all(l.endswith("up to date") for l in lines), lines
    assert "cloning" not in second.stdout


def test_dry_build_all_prints_commands_and_changes_nothing(mp, tmp_path):
    result = mp("--dry", "build-all")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "would run: git clone --depth 1 --branch v5.5.1" in out
    assert "would run: git clone --depth 1 --branch v1.28.0" in out
    assert "install.sh esp32s3" in out
    assert "would run: make -C" in out and "BOARD_VARIANT=FLASH_16M_SPIRAM_OCT" in out
    assert not (tmp_path / "work" / "micropython").exists()
    assert not (tmp_path / "work" / "esp-idf").exists()


def test_status_shows_each_step(mp):
    result = mp("status")
    assert result.returncode == 0
    for step in STEPS:
        assert f"  {step}" in result.stdout
    assert "to do" in result.stdout


def test_fetch_refuses_a_moved_tag(invoke_run, sources, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(sources.micropython_repo, moved)
    git(moved, "tag", "-f", "-a", "v1.28.0", "-m", "moved", "v1.24.1^{commit}")
    env = {**sources.env(), "INVOKE_MPFORGE_MICROPYTHON_URL": moved.as_uri()}
    line = one_line_error(invoke_run("fetch", env=env))
    assert "tag v1.28.0" in line and f"mpforge pins {sources.commits['v1.28.0'][:7]}" in line and "the tag moved" in line
    assert not (tmp_path / "work/micropython/v1.28.0").exists()
    assert not list((tmp_path / "work/micropython").glob(".*partial"))


def test_fetch_uses_a_users_checkout_at_the_right_version(mp, sources, tmp_path):
    mine = tmp_path / "my-micropython"
    git(tmp_path, "clone", "-q", "--branch", "v1.28.0", sources.micropython_url, str(mine))
    result = mp("fetch", env={"INVOKE_MPFORGE_MICROPYTHON_DIR": str(mine)})
    assert result.returncode == 0, result.stderr
    assert (mine / "lib/berkeley-db-1.xx/README.md").is_file()
    again = mp("fetch", env={"INVOKE_MPFORGE_MICROPYTHON_DIR": str(mine)})
    assert "up to date" in again.stdout
    line = one_line_error(mp("fetch", "--micropython", "v1.24.1", env={"INVOKE_MPFORGE_MICROPYTHON_DIR": str(mine)}))
    assert f"micropython.dir {mine} is at v1.28.0" in line and "not v1.24.1" in line


def test_fetch_refuses_a_directory_that_is_not_a_checkout(mp, tmp_path):
    plain = tmp_path / "not-git"
    plain.mkdir()
    line = one_line_error(mp("fetch", env={"INVOKE_MPFORGE_MICROPYTHON_DIR": str(plain)}))
    assert "is not a git checkout" in line


def test_idf_dir_not_a_checkout_or_at_another_version(mp, sources, tmp_path):
    plain = tmp_path / "idf-plain"
    plain.mkdir()
    line = one_line_error(mp("install-prereqs", env={"INVOKE_MPFORGE_IDF_DIR": str(plain)}))
    assert f"idf.dir {plain} is not a git checkout" in line
    other = tmp_path / "idf-5.2"
    git(tmp_path, "clone", "-q", "--branch", "v5.2.2", sources.idf_url, str(other))
    line = one_line_error(mp("install-prereqs", env={"INVOKE_MPFORGE_IDF_DIR": str(other)}))
    assert "is ESP-IDF v5.2.2, but micropython v1.28.0 is built with v5.5.1" in line


def test_idf_older_than_the_release_accepts(mp):
    line = one_line_error(mp("install-prereqs", env={"INVOKE_MPFORGE_IDF_VERSION": "v5.0.4"}))
    assert "micropython v1.28.0 needs ESP-IDF v5.5.1 or newer" in line  # the test pins idf_min = idf


@pytest.mark.parametrize("args,message", [
    (("build-all", "--profile", "esp32s3-n16r9"), "unknown profile 'esp32s3-n16r9'; available:"),
    (("build", "--micropython", "v2.0.0"), "unknown MicroPython release 'v2.0.0'; supported:"),
])
def test_unknown_profile_or_release(mp, args, message):
    assert message in one_line_error(mp(*args))


def test_profile_with_a_typo(mp, tmp_path):
    bad = tmp_path / "typo.toml"
    bad.write_text((ROOT / "boards/esp32s3-n16r8.toml").read_text().replace("[psram]\nsize", "[psram]\nsizee"))
    line = one_line_error(mp("build", "--profile", str(bad)))
    assert f"{bad}: unknown key 'psram.sizee'" in line


def test_user_edits_in_the_board_folder_stop_the_overlay(mp, tmp_path):
    assert mp("fetch").returncode == 0
    board_json = tmp_path / "work/micropython/v1.28.0/ports/esp32/boards/ESP32_GENERIC_S3/board.json"
    board_json.write_text("{}\n")
    line = one_line_error(mp("overlay"))
    assert "board.json has edits mpforge did not make" in line
    assert board_json.read_text() == "{}\n"


def _path_without(tmp_path, *tools):
    """A PATH with every program of this machine's PATH but the named ones."""
    farm = tmp_path / f"bin-without-{'-'.join(tools)}"
    farm.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for entry in os.scandir(folder):
            target = farm / entry.name
            if entry.name in tools or target.exists() or entry.name.startswith(tuple(t + "." for t in tools)):
                continue
            target.symlink_to(entry.path)
    return str(farm)


@pytest.mark.parametrize("tool,task", [("git", "fetch"), ("make", "mpy-cross"), ("cmake", "build")])
def test_missing_tool_is_one_line(mp, tmp_path, tool, task):
    env = {"PATH": _path_without(tmp_path, tool)}
    if tool == "cmake":
        env["SIM_CMAKE"] = ""  # and the simulated IDF installs none either
    line = one_line_error(mp(task, env=env))
    assert f"'{tool}' not found on PATH" in line and "install-prereqs" in line


def test_interrupted_build_recovers(mp, tmp_path):
    """Ctrl-C (SIGINT) in the middle of make: one line, exit 130, and the next run completes."""
    assert mp("overlay").returncode == 0 and mp("install-prereqs").returncode == 0
    # A runner started from a background shell ignores SIGINT, and so would the child (an
    # ignored signal stays ignored across exec): give the child SIGINT's default back.
    proc = subprocess.Popen([sys.executable, "-m", "invoke", "build"], cwd=ROOT,
                            env={**mp.env, "SIM_BUILD_DELAY": "20"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    log = tmp_path / "work/state/build-esp32s3-n16r8-v1.28.0.log"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (log.exists() and "[2/20]" in log.read_text()):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "interrupted; run the task again to resume" in err and "Traceback" not in err
    assert "[20/20]" not in log.read_text()

    again = mp("build")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "images checked" in again.stdout
    assert mp("build").stdout.strip().endswith("up to date")


def test_a_failed_build_ends_with_the_cause_and_the_command_that_retries(mp):
    """A compile error (simulated: SIM_BUILD_FAIL): the compiler's line is shown, and the last
    line says where the log is, what to do and the one command that resumes the chain."""
    result = mp("build-all", env={**mp.env, "SIM_BUILD_FAIL": "1"})
    line = one_line_error(result)
    assert "error: 'mp_sys_stdout_obj' undeclared" in result.stdout + result.stderr
    assert line.startswith("error: build: make failed with exit code 2 for esp32s3-n16r8 @ micropython v1.28.0")
    assert "build-esp32s3-n16r8-v1.28.0.log" in line
    assert line.endswith("fix its cause, then `invoke build-all -B esp32s3-n16r8 -m v1.28.0` resumes"), line


def test_profile_change_removes_stale_sdkconfig(mp, tmp_path):
    """ESP-IDF keeps an existing sdkconfig's values; the build must drop it when the defaults change."""
    profile = tmp_path / "myboard.toml"
    text = (ROOT / "boards/esp32s3-n16r8.toml").read_text()
    profile.write_text(text)
    first = mp("build", "--profile", str(profile))
    assert first.returncode == 0, first.stdout + first.stderr
    profile.write_text(text.replace('size = "16MB"', 'size = "8MB"').replace('min_fs_size = "13MB"', 'min_fs_size = "5MB"'))
    second = mp("build", "--profile", str(profile))
    assert second.returncode == 0, second.stdout + second.stderr
    assert "removing" in second.stdout and "sdkconfig" in second.stdout
    assert "images checked: ESP32-S3, 8MB in the header" in second.stdout


def test_install_prereqs_refuses_a_moved_idf_tag(invoke_run, sources, tmp_path):
    moved = tmp_path / "moved-idf"
    shutil.copytree(sources.idf_repo, moved)
    git(moved, "commit", "-q", "--allow-empty", "-m", "not what was tagged")
    git(moved, "tag", "-f", "-a", "v5.5.1", "-m", "moved", "HEAD")
    env = {**sources.env(), "INVOKE_MPFORGE_IDF_URL": moved.as_uri()}
    line = one_line_error(invoke_run("install-prereqs", env=env))
    assert "tag v5.5.1" in line and "the tag moved" in line
    assert not (tmp_path / "work/esp-idf/v5.5.1").exists()


def test_builtin_idf_pins_cover_every_release():
    from mpforge.model import releases

    for release in releases.RELEASES.values():
        assert len(releases.IDF_COMMITS[release.idf]) == 40


def test_a_users_idf_at_the_right_version_but_another_commit_is_used_with_a_warning(mp, sources, tmp_path):
    mine = tmp_path / "my-idf"
    git(tmp_path, "clone", "-q", "--branch", "v5.5.1", sources.idf_url, str(mine))
    git(mine, "commit", "-q", "--allow-empty", "-m", "my local patch")
    result = mp("install-prereqs", env={"INVOKE_MPFORGE_IDF_DIR": str(mine)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"warning: {mine} is at" in result.stderr and "where ESP-IDF v5.5.1 was tagged" in result.stderr
