"""overlay on port trees laid out like each release line (tests/fixtures/port):
apply, apply again (no writes), revert (tree identical), refuse what is not ours."""

from __future__ import annotations

import pytest

from harness.fake_repos import git, lay_port_tree
from mpforge.build import overlay
from mpforge import ui
from mpforge.build import pipeline
from mpforge.model import settings
from mpforge.errors import UserError

LINES = {"v1.22": "v1.23.0", "v1.24": "v1.24.1", "v1.26": "v1.28.0", "v1.29": "v1.29.0"}
BOARD = "ports/esp32/boards/ESP32_GENERIC_S3"


def make_tree(tmp_path, line):
    repo = tmp_path / "micropython"
    repo.mkdir()
    git(repo, "init", "-q")
    lay_port_tree(repo, line)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"fixture {line}")
    return repo


def job_for(tmp_path, repo, version, profile="esp32s3-n16r8"):
    s = settings.from_config({"mpforge": {"workdir": str(tmp_path / "work"), "micropython": {"dir": str(repo)}}})
    return settings.job(s, profile, version)


def snapshot(repo):
    """Every file's bytes and mtime in the tree (outside .git)."""
    return {str(p.relative_to(repo)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(repo.rglob("*")) if p.is_file() and ".git" not in p.parts}


@pytest.mark.parametrize("line,version", LINES.items())
def test_apply_again_then_revert(tmp_path, line, version, capsys):
    repo = make_tree(tmp_path, line)
    before = snapshot(repo)
    job = job_for(tmp_path, repo, version)

    overlay.apply(job)
    variant = repo / BOARD / "mpconfigvariant_FLASH_16M_SPIRAM_OCT.cmake"
    snippet = repo / BOARD / "sdkconfig.mpforge_FLASH_16M_SPIRAM_OCT"
    assert 'MICROPY_HW_BOARD_NAME="ESP32S3 microcontroller with 16MB of Flash & Octal-SPIRAM"' in variant.read_text()
    assert "boards/ESP32_GENERIC_S3/sdkconfig.mpforge_FLASH_16M_SPIRAM_OCT" in variant.read_text()
    text = snippet.read_text()
    assert "CONFIG_ESPTOOLPY_FLASHSIZE_16MB=y" in text and "CONFIG_SPIRAM_MODE_OCT=y" in text
    assert "CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ=240" in text
    expected_csv = "partitions-4MiBplus.csv" if line in ("v1.26", "v1.29") else "partitions-16MiB.csv"
    assert f'CONFIG_PARTITION_TABLE_CUSTOM_FILENAME="{expected_csv}"' in text
    assert (repo / "ports/esp32" / expected_csv).exists()
    modified = git(repo, "status", "--porcelain", "--untracked-files=no")
    if line == "v1.22":  # the if-block era needs the one tracked edit
        assert modified == f"M {BOARD}/mpconfigboard.cmake"
        assert "mpconfigvariant_${MICROPY_BOARD_VARIANT}.cmake" in (repo / BOARD / "mpconfigboard.cmake").read_text()
    else:
        assert modified == ""

    applied = snapshot(repo)
    capsys.readouterr()
    ui.step_results(pipeline.run_step(job, "overlay"))
    assert snapshot(repo) == applied  # same bytes, same mtimes: nothing rewritten
    assert "up to date" in capsys.readouterr().out
    ok, message = overlay.status(job)
    assert ok, message

    overlay.revert(job)
    after = snapshot(repo)
    assert {k: v[0] for k, v in after.items()} == {k: v[0] for k, v in before.items()}
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""


def test_two_profiles_share_a_tree_and_revert_removes_both(tmp_path):
    repo = make_tree(tmp_path, "v1.24")
    overlay.apply(job_for(tmp_path, repo, "v1.24.1", "esp32s3-n16r8"))
    overlay.apply(job_for(tmp_path, repo, "v1.24.1", "esp32s3-n8r2"))
    assert (repo / BOARD / "mpconfigvariant_FLASH_8M_SPIRAM_QUAD.cmake").exists()
    assert "CONFIG_SPIRAM_MODE_QUAD=y" in (repo / BOARD / "sdkconfig.mpforge_FLASH_8M_SPIRAM_QUAD").read_text()
    overlay.revert(job_for(tmp_path, repo, "v1.24.1"))
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""


def test_profile_change_rewrites_only_our_own_file(tmp_path):
    repo = make_tree(tmp_path, "v1.26")
    job = job_for(tmp_path, repo, "v1.28.0")
    overlay.apply(job)
    path = repo / BOARD / "sdkconfig.mpforge_FLASH_16M_SPIRAM_OCT"
    # An older mpforge wrote other content: it is still recognised as ours.
    state = overlay._load_state(job)
    old = "# older mpforge content\n"
    state["files"][f"{BOARD}/sdkconfig.mpforge_FLASH_16M_SPIRAM_OCT"].append(overlay._sha(old))
    overlay.state.write(job.settings.state_dir, overlay._state_name(job), state)
    path.write_text(old)
    overlay.apply(job)
    assert "FLASHSIZE_16MB=y" in path.read_text()


def test_refuses_user_edit_of_a_tracked_board_file(tmp_path):
    repo = make_tree(tmp_path, "v1.24")
    (repo / BOARD / "board.json").write_text('{"mine": true}\n')
    with pytest.raises(UserError, match=r"board.json has edits mpforge did not make; commit or stash them"):
        overlay.apply(job_for(tmp_path, repo, "v1.24.1"))
    assert not (repo / BOARD / "mpconfigvariant_FLASH_16M_SPIRAM_OCT.cmake").exists()


def test_refuses_a_file_of_the_users_at_our_path(tmp_path):
    repo = make_tree(tmp_path, "v1.26")
    mine = repo / BOARD / "mpconfigvariant_FLASH_16M_SPIRAM_OCT.cmake"
    mine.write_text("# my own variant\n")
    with pytest.raises(UserError, match="was not written by mpforge; move it away"):
        overlay.apply(job_for(tmp_path, repo, "v1.28.0"))
    assert mine.read_text() == "# my own variant\n"


def test_refuses_user_edit_of_the_hooked_file_in_the_if_block_era(tmp_path):
    repo = make_tree(tmp_path, "v1.22")
    cmake = repo / BOARD / "mpconfigboard.cmake"
    cmake.write_text(cmake.read_text() + "# my change\n")
    git(repo, "commit", "-qam", "user commit")  # committed: not dirty, but not what git had at the tag either
    job = job_for(tmp_path, repo, "v1.23.0")
    overlay.apply(job)  # a committed edit is the user's tree; the hook goes on top
    cmake.write_text(cmake.read_text() + "# uncommitted\n")
    with pytest.raises(UserError, match="mpconfigboard.cmake has edits mpforge did not make"):
        overlay.apply(job)


def test_revert_refuses_a_file_changed_after_we_wrote_it(tmp_path):
    repo = make_tree(tmp_path, "v1.26")
    job = job_for(tmp_path, repo, "v1.28.0")
    overlay.apply(job)
    path = repo / BOARD / "sdkconfig.mpforge_FLASH_16M_SPIRAM_OCT"
    path.write_text(path.read_text() + "CONFIG_MINE=y\n")
    with pytest.raises(UserError, match="was changed after mpforge wrote it"):
        overlay.revert(job)
    assert "CONFIG_MINE=y" in path.read_text()
    # Checked before anything is removed: the variant file placed before it is still there.
    assert (repo / BOARD / "mpconfigvariant_FLASH_16M_SPIRAM_OCT.cmake").exists()


def test_dry_run_changes_nothing(tmp_path, capsys):
    repo = make_tree(tmp_path, "v1.22")
    before = snapshot(repo)
    s = settings.from_config({"mpforge": {"workdir": str(tmp_path / "w"), "micropython": {"dir": str(repo)}},
                              "run": {"dry": True}})
    overlay.apply(settings.job(s, None, "v1.23.0"))
    assert snapshot(repo) == before
    out = capsys.readouterr().out
    assert "would write" in out and "would append mpforge hook to" in out


def test_octal_flash_and_no_psram_settings(tmp_path):
    repo = make_tree(tmp_path, "v1.26")
    overlay.apply(job_for(tmp_path, repo, "v1.28.0", "esp32s3-n32r8v"))
    text = (repo / BOARD / "sdkconfig.mpforge_FLASH_32M_OCT_SPIRAM_OCT").read_text()
    assert "CONFIG_ESPTOOLPY_OCT_FLASH=y" in text and "CONFIG_ESPTOOLPY_FLASHMODE_OPI=y" in text
    assert "CONFIG_ESPTOOLPY_FLASHSIZE_32MB=y" in text
    overlay.apply(job_for(tmp_path, repo, "v1.28.0", "esp32s3-n4"))
    text = (repo / BOARD / "sdkconfig.mpforge_FLASH_4M_NO_SPIRAM").read_text()
    assert "# CONFIG_SPIRAM is not set" in text and "CONFIG_SPIRAM=y" not in text


def test_overlay_task_on_unknown_release_lists_supported(invoke_run):
    from conftest import one_line_error

    line = one_line_error(invoke_run("overlay", "--micropython", "v1.21.0"))
    assert "unknown MicroPython release 'v1.21.0'; supported: v1.22.2, v1.23.0" in line and "v1.28.0" in line
