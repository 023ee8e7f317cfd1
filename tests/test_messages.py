"""Messages that used to mislead, each through the real task: one line, the right hint.
Also: each task runs only the steps it needs (overlay does not build mpy-cross)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from conftest import one_line_error
from harness.fake_repos import git
from mpforge.model import profiles


def test_a_missing_profile_path_is_named_as_given(mp, tmp_path):
    missing = tmp_path / "nope" / "x.toml"
    line = one_line_error(mp("status", "--profile", str(missing)))
    assert line == (f"error: profile {str(missing)!r} is not a .toml file that exists; give one, or a name "
                    f"from boards/ ({', '.join(profiles.available())})")
    assert "boards//" not in line and ".toml.toml" not in line


def test_idf_dir_too_old_is_not_suggested_as_idf_version(mp, sources, tmp_path):
    other = tmp_path / "idf-5.2"
    git(tmp_path, "clone", "-q", "--branch", "v5.2.2", sources.idf_url, str(other))
    line = one_line_error(mp("install-prereqs", env={"INVOKE_MPFORGE_IDF_DIR": str(other)}))
    assert "check out v5.5.1 there" in line
    assert "set idf.version to v5.2.2" not in line  # the release refuses v5.2.2
    assert "v5.2.2 is older than v5.5.1, the oldest ESP-IDF micropython v1.28.0 accepts" in line


def test_a_moved_tag_in_micropython_dir_is_not_told_to_check_out_that_tag(mp, sources, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(sources.micropython_repo, moved)
    git(moved, "tag", "-f", "-a", "v1.28.0", "-m", "moved", "v1.24.1^{commit}")
    mine = tmp_path / "mine"
    git(tmp_path, "clone", "-q", "--branch", "v1.28.0", moved.as_uri(), str(mine))
    line = one_line_error(mp("fetch", env={"INVOKE_MPFORGE_MICROPYTHON_DIR": str(mine)}))
    pinned = sources.commits["v1.28.0"]
    assert f"is at tag v1.28.0, but there the tag points at" in line and "the tag moved" in line
    assert f"checkout {pinned}`" in line and "checkout v1.28.0`" not in line


def test_git_missing_in_install_prereqs_is_not_told_to_run_install_prereqs(mp, tmp_path):
    bare = tmp_path / "bin"  # a PATH with no git and no package manager
    bare.mkdir()
    os.symlink(sys.executable, bare / "python3")
    line = one_line_error(mp("install-prereqs", env={"PATH": str(bare)}))
    assert "'git' not found on PATH" in line
    assert "install-prereqs" not in line.split("error: ", 1)[1].split(":", 1)[1]


def test_status_does_not_call_mpy_cross_done_in_a_tree_at_another_release(mp, sources, tmp_path):
    mine = tmp_path / "mine"
    git(tmp_path, "clone", "-q", "--branch", "v1.24.1", sources.micropython_url, str(mine))
    exe = mine / "mpy-cross" / "build" / "mpy-cross"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")  # built, newer than its sources: done for v1.24.1
    rows = {line.split()[0]: line for line in mp("status", env={"INVOKE_MPFORGE_MICROPYTHON_DIR": str(mine)})
            .stdout.splitlines()[1:]}
    assert " to do " in rows["fetch"]
    assert " to do " in rows["mpy-cross"] and "waits for fetch" in rows["mpy-cross"]


def test_dry_run_says_would_not_cloning(mp, tmp_path):
    out = mp("--dry", "fetch").stdout
    assert "would run: git clone" in out and "cloning" not in out and "checking out" not in out
    out = mp("--dry", "overlay", "--micropython", "v1.22.2").stdout
    assert "would append mpforge hook to" in out and "would place" not in out


def test_overlay_does_not_build_mpy_cross(mp, tmp_path):
    result = mp("overlay")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [line.split(":")[0] for line in result.stdout.splitlines()
            if not line.startswith(" ")] == ["fetch"] * len(result.stdout.splitlines()[:-1]) + ["overlay"]
    assert not (tmp_path / "work/micropython/v1.28.0/mpy-cross/build").exists()


def test_these_messages_wrap_at_spaces_on_a_terminal_of_80_columns(mp, tmp_path):
    """The errors above as a user's terminal gets them: wrapped by the renderer at spaces,
    the same words as the one line written off a terminal."""
    from conftest import ROOT, run_with_stderr_on_a_terminal, wrapped_at_spaces

    bare = tmp_path / "bin"
    bare.mkdir()
    os.symlink(sys.executable, bare / "python3")
    for args, env, told in ((["status", "--profile", str(tmp_path / "nope" / "x.toml")], {}, True),
                            (["install-prereqs"], {"PATH": str(bare)}, False)):  # only the terminal's size
        piped = one_line_error(mp(*args, env=env))
        shown = run_with_stderr_on_a_terminal([sys.executable, "-m", "invoke", *args], cwd=ROOT, set_columns=told,
                                              env={**mp.env, **env}, stdin=subprocess.DEVNULL)
        lines = shown.stderr.splitlines()
        block = lines[next(i for i, line in enumerate(lines) if line.startswith("error: ")):]
        assert len(piped) > 80 and len(block) > 1, block
        wrapped_at_spaces(piped, block, 80)
