"""MicroPython v1.29: its line's upstream facts, its MCU name, the explained
kconfgen warning, and trust on first use for its unpinned tag. Trees are the
fixture port (tests/fixtures/port/v1.29) and git repositories made here."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import one_line_error
from harness.fake_repos import _commit_all, _init, git, lay_port_tree, make_plain_repo, SUBMODULES
from harness.repl_peer import repl_peers  # noqa: F401 -- the fixture (pytest finds it by name)
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


# ---- verify, container, ci, dist on v1.29 (issue 21, item 4) ---------------------------------

def test_verify_takes_the_board_string_from_the_release_line(invoke_run, repl_peers):
    """A real verify against a REPL peer reporting a v1.29 build: it passes as v1.29.0 (the line's
    "ESP32-S3"); the older peer, whose string ends in the chip's "ESP32S3", fails it on the name."""
    new = repl_peers("v1.29.0")
    result = invoke_run("verify", "--port", new.port, "--micropython", "v1.29.0", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    old = repl_peers("reference")
    line = one_line_error(invoke_run("verify", "--port", old.port, "--micropython", "v1.29.0", timeout=60))
    assert "board name is 'ESP32S3 microcontroller with 16MB of Flash & Octal-SPIRAM with ESP32S3'" in line


def test_ci_with_v129_builds_it(invoke_run, tmp_path):
    import yaml

    out = tmp_path / "wf.yml"
    result = invoke_run("ci", "-m", "v1.29.0", "--dest", str(out))
    assert result.returncode == 0, result.stderr
    doc = yaml.safe_load(out.read_text())
    assert doc["jobs"]["firmware"]["strategy"]["matrix"]["include"] == [{"profile": "esp32s3-n16r8",
                                                                         "release": "v1.29.0"}]
    assert "${{ matrix.release }}" in out.read_text()


def test_a_v129_dist_carries_the_release(tmp_path):
    """The simulated build of test_dist, on v1.29.0 whose tag the first fetch locked."""
    from harness.images import write_fake_build
    from mpforge.dist import collect, load
    from mpforge.model import settings

    s = settings.from_config({"mpforge": {"workdir": str(tmp_path / "work"),
                                          "micropython": {"dir": str(tmp_path / "mp")}}})
    taglock.record(s.workdir, "v1.29.0", "2" * 40)
    job = settings.job(s, "esp32s3-n16r8", "v1.29.0")
    write_fake_build(job.build_dir, app_size=64 * 1024)
    folder = collect.collect(job, tmp_path / "dist")
    assert folder.name == "esp32s3-n16r8-v1.29.0"
    info = json.loads((folder / "build-info.json").read_text())
    assert info["micropython"] == {"version": "v1.29.0", "commit": "2" * 40} and info["idf_version"] == "v5.5.2"
    html = (folder / "index.html").read_text()
    assert "v1.29.0" in html and "2" * 40 in html
    release = load.job_for(load.load(folder), s).release  # what flash --firmware and verify --firmware check
    assert release.version == "v1.29.0" and release.commit == "2" * 40 and release.mcu_name == "ESP32-S3"


def test_build_all_builds_v129_under_the_simulated_idf(invoke_run, tmp_path):
    """The whole chain on a v1.29 tree (the shared S3 cmake included by the board's), with the
    simulated ESP-IDF v5.5.2 (no xtensa toolchain here): built, images checked."""
    from harness.fake_repos import add_release, make_sources

    sources = make_sources(tmp_path / "sources")
    add_release(sources, "v1.29.0", "v1.29", "v5.5.2")
    result = invoke_run("build-all", "-m", "v1.29.0", env=sources.env(), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "images checked: ESP32-S3, 16MB in the header" in result.stdout
    assert "built esp32s3-n16r8 @ micropython v1.29.0" in result.stdout
