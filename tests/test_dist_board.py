"""A dist folder on its own (no profile file, MicroPython tree or IDF) is
enough to check a board: verify reads the profile and the frozen modules
from its build-info.json. The board is the real MicroPython REPL peer."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from conftest import one_line_error
from harness.images import write_fake_build
from harness.repl_peer import repl_peers  # noqa: F401  (fixture)
from mpforge.build import overlay
from mpforge.dist import collect, load
from mpforge.model import settings as settings_mod
from test_config import idf_for
from test_overlay import make_tree


@pytest.fixture(scope="module")
def made_dist(tmp_path_factory):
    """One dist made the real way: the fixture MicroPython tree with the overlay applied, its
    settings resolved by `invoke config`'s code (real kconfgen, the simulated IDF's Kconfig)."""
    tmp = tmp_path_factory.mktemp("dist-board")
    code = tmp / "code"
    code.mkdir()
    (code / "app.py").write_text("def main():\n    pass\n")
    (code / "sensors.py").write_text("READINGS = []\n")
    repo = make_tree(tmp, "v1.26")
    s = settings_mod.from_config({"mpforge": {
        "workdir": str(tmp / "work"), "micropython": {"dir": str(repo)},
        "idf": {"dir": str(idf_for(tmp, "v5.5.1")), "python": sys.executable}}}, frozen=str(code))
    job = settings_mod.job(s, "esp32s3-n16r8", "v1.28.0")
    overlay.apply(job)
    write_fake_build(job.build_dir, app_size=64 * 1024)
    return collect.collect(job, tmp / "dist")


@pytest.fixture
def dist_folder(made_dist, tmp_path):
    """A private copy of the dist (tests tamper with it)."""
    return Path(shutil.copytree(made_dist, tmp_path / made_dist.name))


def test_build_info_holds_the_resolved_settings(dist_folder):
    info = load.load(dist_folder).info
    assert info["settings_source"] == "invoke config" and info["settings"]["ok"] is True
    assert {r["setting"]: r["got"] for r in info["settings"]["settings"]}["PSRAM mode"] == "octal"


def test_build_info_carries_profile_and_frozen_modules(dist_folder):
    built = load.load(dist_folder)
    assert built.info["frozen_modules"] == ["app", "sensors"]
    job = load.job_for(built, settings_mod.from_config({}))
    assert (job.profile.name, job.profile.variant, job.profile.flash_size) == ("esp32s3-n16r8", "FLASH_16M_SPIRAM_OCT", 16 << 20)
    assert job.release.version == "v1.28.0"


def test_verify_against_a_dist_folder(invoke_run, repl_peers, dist_folder):
    peer = repl_peers("frozen")  # the reference board, with app and sensors frozen
    result = invoke_run("verify", "--port", peer.port, "--firmware", str(dist_folder),
                        "--profile", "esp32s3-n4", timeout=60)  # the dist's profile wins over the flag
    assert result.returncode == 0, result.stdout + result.stderr
    assert "frozen app" in result.stdout and "frozen sensors" in result.stdout
    assert "all 12 checks passed" in result.stdout


def test_verify_fails_when_the_frozen_modules_are_missing(invoke_run, repl_peers, dist_folder):
    peer = repl_peers("reference")  # right board, firmware without the frozen code
    line = one_line_error(invoke_run("verify", "--port", peer.port, "--firmware", str(dist_folder), timeout=60))
    assert "app does not import" in line


def test_verify_refuses_a_tampered_dist(invoke_run, repl_peers, dist_folder):
    (dist_folder / "build-info.json").write_text("{}\n")
    line = one_line_error(invoke_run("verify", "--port", "/dev/null", "--firmware", str(dist_folder), timeout=60))
    assert "build-info.json" in line


# ---- flash --firmware DIST against the ROM peer -------------------------------------

from harness.esp_mock import MockBoard  # noqa: E402
from harness.images import make_app_image  # noqa: E402


@pytest.fixture
def cfg(tmp_path):
    """A peer without reset lines (as in CI), failing fast on dead ports."""
    path = tmp_path / "ci.yaml"
    path.write_text("mpforge:\n  before: no-reset\n  after: hard-reset\n  connect_attempts: 2\n")
    return str(path)


def holds_parts(board, folder) -> bool:
    built = load.load(folder)
    return all(board.flash.data[img.offset:img.offset + img.path.stat().st_size] == img.path.read_bytes()
               for img in built.images)


def resum(folder):
    """Rewrite SHA256SUMS after changing a file (as someone crafting a bad folder would)."""
    import hashlib
    lines = []
    for line in (folder / "SHA256SUMS").read_text().splitlines():
        name = line.split(maxsplit=1)[1].lstrip("*")
        lines.append(f"{hashlib.sha256((folder / name).read_bytes()).hexdigest()}  {name}")
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("as_zip", [False, True])
def test_flash_from_a_dist_folder_or_zip(invoke_run, cfg, dist_folder, tmp_path, as_zip):
    import shutil
    source = shutil.make_archive(str(tmp_path / "fw"), "zip", dist_folder) if as_zip else str(dist_folder)
    with MockBoard() as board:
        result = invoke_run("-f", cfg, "flash", "--port", board.url, "--firmware", source, timeout=120,
                            env={"INVOKE_MPFORGE_MICROPYTHON_DIR": str(tmp_path / "no-tree-here")})
        assert result.returncode == 0, result.stdout + result.stderr
        assert holds_parts(board, dist_folder)


def test_a_tampered_dist_is_refused_before_anything_is_written(invoke_run, cfg, dist_folder):
    app = dist_folder / "micropython.bin"
    app.write_bytes(app.read_bytes()[:-1] + b"\x00")
    with MockBoard() as board:
        line = one_line_error(invoke_run("-f", cfg, "flash", "--port", board.url, "--firmware", str(dist_folder)))
        assert "micropython.bin" in line
        assert board.flash.bytes_written == 0


def test_a_dist_for_another_profile_is_refused(invoke_run, cfg, dist_folder):
    with MockBoard() as board:
        line = one_line_error(invoke_run("-f", cfg, "flash", "--port", board.url, "--firmware", str(dist_folder),
                                         "--profile", "esp32s3-n8r8"))
        assert "holds firmware for profile esp32s3-n16r8, not esp32s3-n8r8" in line
        assert board.flash.bytes_written == 0


def test_a_dist_for_another_chip_is_refused(invoke_run, cfg, dist_folder):
    (dist_folder / "micropython.bin").write_bytes(make_app_image(64 * 1024, chip="esp32c3"))
    resum(dist_folder)
    with MockBoard() as board:
        line = one_line_error(invoke_run("-f", cfg, "flash", "--port", board.url, "--firmware", str(dist_folder)))
        assert "is an image for an ESP32-C3, not an ESP32-S3" in line
        assert board.flash.bytes_written == 0


def test_a_board_smaller_than_the_dists_profile_is_refused(invoke_run, cfg, dist_folder):
    with MockBoard(flash_size=8 * 1024 * 1024) as board:
        line = one_line_error(invoke_run("-f", cfg, "flash", "--port", board.url, "--firmware", str(dist_folder)))
        assert "8MB" in line and "16MB" in line
        assert board.flash.bytes_written == 0
