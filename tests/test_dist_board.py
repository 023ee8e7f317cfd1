"""A dist folder on its own (no profile file, MicroPython tree or IDF) is
enough to check a board: verify reads the profile and the frozen modules
from its build-info.json. The board is the real MicroPython REPL peer."""

from __future__ import annotations

import pytest

from conftest import one_line_error
from harness.images import write_fake_build
from mpforge import dist, settings as settings_mod

pytest.importorskip("harness.repl_peer")
from harness.repl_peer import repl_peers  # noqa: E402,F401  (fixture)


@pytest.fixture
def dist_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(dist, "_resolver", lambda: None)  # no IDF here: config cannot resolve
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text("def main():\n    pass\n")
    (code / "sensors.py").write_text("READINGS = []\n")
    s = settings_mod.from_config({"mpforge": {"workdir": str(tmp_path / "work"),
                                              "micropython": {"dir": str(tmp_path / "mp")}}}, frozen=str(code))
    job = settings_mod.job(s, "esp32s3-n16r8", "v1.28.0")
    write_fake_build(job.build_dir, app_size=64 * 1024)
    return dist.collect(job, tmp_path / "dist")


def test_build_info_carries_profile_and_frozen_modules(dist_folder):
    built = dist.load(dist_folder)
    assert built.info["frozen_modules"] == ["app", "sensors"]
    job = dist.job_for(built, settings_mod.from_config({}))
    assert (job.profile.name, job.profile.variant, job.profile.flash_size) == ("esp32s3-n16r8", "FLASH_16M_SPIRAM_OCT", 16 << 20)
    assert job.release.version == "v1.28.0"


def test_verify_against_a_dist_folder(invoke_run, repl_peers, dist_folder):
    peer = repl_peers("frozen")  # the reference board, with app and sensors frozen
    result = invoke_run("verify", "--port", peer.port, "--firmware", str(dist_folder),
                        "--profile", "esp32s3-n4", timeout=60)  # the dist's profile wins over the flag
    assert result.returncode == 0, result.stdout + result.stderr
    assert "frozen app" in result.stdout and "frozen sensors" in result.stdout
    assert "all 9 checks passed" in result.stdout


def test_verify_fails_when_the_frozen_modules_are_missing(invoke_run, repl_peers, dist_folder):
    peer = repl_peers("reference")  # right board, firmware without the frozen code
    line = one_line_error(invoke_run("verify", "--port", peer.port, "--firmware", str(dist_folder), timeout=60))
    assert "app does not import" in line


def test_verify_refuses_a_tampered_dist(invoke_run, repl_peers, dist_folder):
    (dist_folder / "build-info.json").write_text("{}\n")
    line = one_line_error(invoke_run("verify", "--port", "/dev/null", "--firmware", str(dist_folder), timeout=60))
    assert "build-info.json" in line
