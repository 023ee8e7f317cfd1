"""Frozen modules: the generated manifest, the rebuild trigger, bad inputs.

Builds run through the real tasks against the simulated ESP-IDF (see
tests/test_pipeline.py); the simulated build receives FROZEN_MANIFEST the
way the port's Makefile passes it and logs it.
"""

from __future__ import annotations

from conftest import RELEASE, one_line_error

from mpforge.build import frozen
from mpforge.model import settings


def job_with(tmp_path, path):
    s = settings.from_config({"mpforge": {"workdir": str(tmp_path / "w"), "micropython": {"dir": str(tmp_path / "mp")}}},
                             frozen=str(path))
    return settings.job(s, "esp32s3-n16r8", RELEASE)


def test_manifest_for_a_module_folder_keeps_the_ports_own(tmp_path):
    mods = tmp_path / "mods"
    (mods / "pkg").mkdir(parents=True)
    (mods / "app.py").write_text("def main():\n    return 42\n")
    (mods / "pkg" / "__init__.py").write_text("")
    job = job_with(tmp_path, mods)
    written = frozen.write_manifest(job)
    text = written.read_text()
    lines = [l for l in text.splitlines() if not l.startswith("#")]
    assert lines == ['include("$(PORT_DIR)/boards/manifest.py")', f'freeze("{mods}")']
    mtime = written.stat().st_mtime_ns
    frozen.write_manifest(job)
    assert written.stat().st_mtime_ns == mtime  # unchanged text: not rewritten


def test_manifest_for_a_user_manifest_includes_it(tmp_path):
    user = tmp_path / "proj" / "manifest.py"
    user.parent.mkdir()
    user.write_text('freeze("$(MPY_DIR)/../proj/lib")\nmodule("main.py")\n')
    text = frozen.write_manifest(job_with(tmp_path, user)).read_text()
    assert f'include("{user}")' in text and 'include("$(PORT_DIR)/boards/manifest.py")' in text


def test_a_board_with_its_own_manifest_keeps_it(tmp_path):
    job = job_with(tmp_path, tmp_path)
    job.board_dir.mkdir(parents=True)
    (job.board_dir / "manifest.py").write_text('include("$(PORT_DIR)/boards/manifest.py")\n')
    (tmp_path / "x.py").write_text("x = 1\n")
    assert f'include("{job.board_dir / "manifest.py"}")' in frozen.manifest_text(job, tmp_path)


def test_digest_follows_module_content(tmp_path):
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "a.py").write_text("A = 1\n")
    job = job_with(tmp_path, mods)
    first = frozen.digest(job)
    assert frozen.digest(job) == first
    (mods / "a.py").write_text("A = 2\n")
    assert frozen.digest(job) != first


def test_changing_a_frozen_module_rebuilds_and_not_changing_it_does_not(mp, tmp_path):
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "hello.py").write_text("print('hello')\n")
    log = tmp_path / "builds.log"
    env = {"SIM_BUILD_LOG": str(log)}
    first = mp("build", "--frozen", str(mods), env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    builds = log.read_text().splitlines()
    assert len(builds) == 1 and builds[0].endswith("/frozen/esp32s3-n16r8-v1.28.0/manifest.py")
    assert mp("build", "--frozen", str(mods), env=env).stdout.strip().endswith("up to date")
    assert len(log.read_text().splitlines()) == 1
    (mods / "hello.py").write_text("print('hello again')\n")
    again = mp("build", "--frozen", str(mods), env=env)
    assert again.returncode == 0 and "frozen changed since the last build" in again.stdout
    assert len(log.read_text().splitlines()) == 2


def test_frozen_folder_missing(mp, tmp_path):
    line = one_line_error(mp("build", "--frozen", str(tmp_path / "nope")))
    assert f"frozen: {tmp_path / 'nope'} does not exist" in line


def test_frozen_folder_without_python_files(mp, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no code here\n")
    assert "holds no Python files (.py)" in one_line_error(mp("build", "--frozen", str(empty)))


def test_manifest_with_a_syntax_error_names_the_line(mp, tmp_path):
    bad = tmp_path / "manifest.py"
    bad.write_text('include("$(PORT_DIR)/boards/manifest.py")\n\nfreeze("lib"\n')
    line = one_line_error(mp("build", "--frozen", str(bad)))
    assert f"frozen: {bad}:3: syntax error" in line


def test_profile_names_frozen_code_relative_to_itself(tmp_path):
    from mpforge.model import profiles
    from conftest import ROOT

    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "m.py").write_text("M = 1\n")
    board = tmp_path / "board.toml"
    board.write_text((ROOT / "boards/esp32s3-n16r8.toml").read_text() + '\n[frozen]\npath = "code"\n')
    assert profiles.load(str(board)).frozen == (tmp_path / "code").resolve()
