"""MicroPython v1.29: its line's upstream facts, its MCU name, the explained
kconfgen warning, and trust on first use for its unpinned tag. Trees are the
fixture port (tests/fixtures/port/v1.29) and git repositories made here."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import one_line_error
from harness.fake_repos import _commit_all, _init, git, lay_port_tree, make_plain_repo, SUBMODULES
from test_config import config_job
from test_overlay import make_tree

from mpforge.board import checks
from mpforge.build import overlay
from mpforge.config import check as configcheck
from mpforge.config import upstream
from mpforge.errors import UserError
from mpforge.model import lines, profiles, releases, taglock

MB = 1024 * 1024


def test_v129_is_the_default_with_idf_552_pinned():
    r = releases.RELEASES["v1.29.0"]
    assert releases.DEFAULT == "v1.29.0" and (r.idf, r.idf_min, r.line, r.commit) == ("v5.5.2", "v5.3.0", "v1.29", "")
    assert releases.IDF_COMMITS["v5.5.2"] == "30aaf64524299d3bde422ca9a2848090d1bc5d0f"


@pytest.mark.parametrize("profile", profiles.available())
def test_every_profile_resolves_on_the_v129_tree(tmp_path, profile):
    job = config_job(tmp_path, make_tree(tmp_path, "v1.29"), "v1.29.0", profile)
    overlay.apply(job)
    report = configcheck.check(job)
    assert report.ok, report.mismatches
    rows = {r.setting: r.got for r in report.rows}
    p = job.profile
    assert rows["flash size"] == p.flash_size_label and rows["board name"] == p.board_name
    assert rows["PSRAM"] == ("off" if p.psram_mode == "none" else "on")
    assert p.psram_mode == "none" or rows["PSRAM mode"] == p.psram_mode
    assert rows["partition table"] == overlay.partition_csv(job)
    # the new layout: the common cmake's snippets, then the board's, then the variant's last
    assert report.defaults[:5] == ["boards/sdkconfig.base", "boards/sdkconfig.ble", "boards/sdkconfig.spiram_quad",
                                   "boards/sdkconfig.flash_qio_80m", "boards/sdkconfig.csi"]
    assert report.defaults[-1].startswith("boards/ESP32_GENERIC_S3/sdkconfig.mpforge_")


@pytest.mark.parametrize("line,version,change,named", [
    ("v1.29", "v1.29.0", "restore", "ports/esp32/boards/ESP32_GENERIC_S3/sdkconfig.board exists: line v1.29"),
    ("v1.29", "v1.29.0", "drop", "ports/esp32/boards/sdkconfig.flash_qio_80m is missing: line v1.29 relies on it"),
    ("v1.26", "v1.28.0", "none", "ports/esp32/boards/ESP32_GENERIC_S3/sdkconfig.board is missing: line v1.26"),
])
def test_config_refuses_a_tree_not_of_the_line(tmp_path, invoke_run, line, version, change, named):
    """The v1.26 line pinned on the v1.29 tree (the wrong overlay that passed by luck) and a v1.29 tree
    that changed: `invoke config` exits non-zero naming the file."""
    repo = make_tree(tmp_path, "v1.29")
    board = repo / "ports/esp32/boards"
    if change == "restore":
        (board / "ESP32_GENERIC_S3/sdkconfig.board").write_text("CONFIG_ESPTOOLPY_FLASHMODE_QIO=y\n")
    elif change == "drop":
        (board / "sdkconfig.flash_qio_80m").unlink()
    job = config_job(tmp_path, repo, version)
    with pytest.raises(UserError) as refused:
        configcheck.board_defaults(job, job.release.idf)
    assert named in str(refused.value)
    release = releases.RELEASES[version]
    env = {"INVOKE_MPFORGE_MICROPYTHON_DIR": str(repo), "INVOKE_MPFORGE_IDF_DIR": str(job.idf_dir),
           "INVOKE_MPFORGE_IDF_PYTHON": sys.executable, "INVOKE_MPFORGE_MICROPYTHON_VERSION": release.version}
    if release.commit:  # the v1.26 line's release is pinned: the tree is not at its commit, so name it in a file
        path = tmp_path / "rel.toml"
        path.write_text(f'[[release]]\nversion = "v1.28.9"\ncommit = "{git(repo, "rev-parse", "HEAD")}"\n'
                        f'idf = "{release.idf}"\nline = "{line}"\n')
        env.update(INVOKE_MPFORGE_RELEASES_FILE=str(path), INVOKE_MPFORGE_MICROPYTHON_VERSION="v1.28.9")
    else:
        git(repo, "tag", "-a", "v1.29.0", "-m", "v1.29.0")
    result = invoke_run("config", env=env)
    assert result.returncode != 0 and named in one_line_error(result)


def test_the_v129_line_names_the_mcu_with_a_hyphen():
    """3d78efa8c2: the banner ends in "with ESP32-S3" from v1.29; the chip's name before."""
    ref = profiles.load("esp32s3-n16r8")
    assert releases.RELEASES["v1.29.0"].mcu_name == "ESP32-S3" and releases.RELEASES["v1.28.0"].mcu_name == ""
    new = checks.check_board_name({"machine": f"{ref.board_name} with ESP32-S3"}, ref,
                                  releases.RELEASES["v1.29.0"].mcu_name)
    old = checks.check_board_name({"machine": f"{ref.board_name} with ESP32-S3"}, ref,
                                  releases.RELEASES["v1.28.0"].mcu_name)
    assert new.passed and not old.passed
    # a dist's release of no known line: that of the newest known release at or before it
    assert releases.Release("v1.29.1", "a" * 40, "v5.5.2", "v5.3.0", "").mcu_name == "ESP32-S3"


def test_unknown_symbol_warning_is_explained_from_the_lines_data():
    line = lines.load("v1.29")
    text = "unknown kconfig symbol 'BT_NIMBLE_STATIC_TO_DYNAMIC' assigned to 'n' in sdkconfig.combined"
    [old] = upstream.explain([text], line, "5.5.2")
    assert old.startswith(text) and "from IDF v5.5.3 on; v5.5.2 ignores it: NimBLE" in old
    assert upstream.explain([text], line, "5.5.3") == [text]  # there it is known: nothing to explain
    other = "unknown kconfig symbol 'XTAL_FREQ_AUTO' assigned to 'y'"
    assert upstream.explain([other], line, "5.5.2") == [other]


# ---- trust on first use: the unpinned v1.29.0 tag ------------------------------------------

def _micropython_with_v129(root):
    repo = _init(root / "micropython")
    for path in SUBMODULES:
        git(repo, "submodule", "add", "-q", make_plain_repo(root / "upstream" / path.rsplit("/", 1)[-1], path), path)
    lay_port_tree(repo, "v1.29")
    first = _commit_all(repo, "MicroPython v1.29.0 (fixture)")
    git(repo, "tag", "-a", "v1.29.0", "-m", "v1.29.0")
    return repo, first


def test_first_fetch_locks_the_tag_and_a_moved_tag_is_refused(tmp_path, invoke_run):
    repo, first = _micropython_with_v129(tmp_path)
    work = tmp_path / "work"
    env = {"INVOKE_MPFORGE_MICROPYTHON_URL": repo.as_uri(), "INVOKE_MPFORGE_WORKDIR": str(work),
           "INVOKE_MPFORGE_MICROPYTHON_VERSION": "v1.29.0", "INVOKE_MPFORGE_RELEASES_FILE": ""}
    result = invoke_run("fetch", env=env)
    assert result.returncode == 0, result.stderr
    assert taglock.locks(work) == {"v1.29.0": first}
    rows = {r["micropython"]: r for r in json.loads(invoke_run("releases", "--json", env=env).stdout)}
    assert rows["v1.29.0"]["commit"] == first and rows["v1.29.0"]["commit_source"] == "recorded on first fetch"
    wide = invoke_run("releases", env={**env, "COLUMNS": "120"}).stdout  # at 80 the cell wraps (test_ui_width)
    assert f"{first[:12]} (first fetch)" in wide

    (repo / "moved.txt").write_text("the tag moved\n")
    moved = _commit_all(repo, "moved")
    git(repo, "tag", "-f", "-a", "v1.29.0", "-m", "v1.29.0 again")
    import shutil
    shutil.rmtree(work / "micropython")
    result = invoke_run("fetch", env=env)
    line = one_line_error(result)
    assert result.returncode != 0 and moved[:7] in line and first[:7] in line, result.stderr
    assert taglock.locks(work) == {"v1.29.0": first}  # the lock is not overwritten by a refused fetch
