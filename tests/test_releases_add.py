"""`invoke releases-add TAG`: the release-day helper, on git repositories made here.

Each repository holds the fixture port tree of a line (tests/fixtures/port) and
the files MicroPython states its facts in, written as upstream writes them
(ports/esp32/README.md, the esp32 CI workflow, main/idf_component.yml, the cmake
files naming GIT_SUBMODULES). The config tier runs with the real CMake and
kconfgen against the simulated IDF's Kconfig (tests/fixtures/idf), as for
`invoke config`. The upstream tier (MPFORGE_UPSTREAM_MICROPYTHON) reads the
facts of every real release tag and compares them with mpforge's own table.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import pytest
from conftest import one_line_error
from harness.fake_repos import _commit_all, _init, add_idf_tree, git, lay_port_tree

from mpforge.errors import UserError
from mpforge.model import lines, profiles, releases, settings
from mpforge.source import releaseadd

TAG = "v1.29.0"

FACT_FILES = {
    "ports/esp32/README.md": (
        "Setting up ESP-IDF and the build environment\n--------------------------------------------\n\n"
        "The ESP-IDF changes quickly and MicroPython only supports certain versions. The\n"
        "current recommended version of ESP-IDF for MicroPython is {idf}. MicroPython\n"
        "also supports v5.3, v5.4, v5.4.1, v5.4.2 and v5.5.1.\n"),
    ".github/workflows/ports_esp32.yml": (
        "env:\n   # Oldest and newest supported ESP-IDF versions, should match ports/esp32/README.md\n"
        '   IDF_OLDEST_VER: &oldest "v5.3"\n   IDF_NEWEST_VER: &newest "{idf}"\n'),
    "ports/esp32/main/idf_component.yml": 'dependencies:\n  espressif/mdns: "~1.3.0"\n  idf:\n    version: ">=5.3.0"\n',
    "ports/esp32/esp32_common.cmake": "if (NOT DEFINED MICROPY_PY_BTREE)\n    set(MICROPY_PY_BTREE ON)\nendif()\n",
    "ports/esp32/CMakeLists.txt": "set(MICROPY_FROZEN_MANIFEST ${CMAKE_CURRENT_LIST_DIR}/boards/manifest.py)\n",
    "extmod/extmod.cmake": ("if(MICROPY_PY_BTREE)\n    list(APPEND GIT_SUBMODULES lib/berkeley-db-1.xx)\nendif()\n"
                            "if(MICROPY_PY_LWIP)\n    list(APPEND GIT_SUBMODULES lib/lwip)\nendif()\n"),
    "py/mkrules.cmake": ('if(MICROPY_FROZEN_MANIFEST)\n    if(MICROPY_LIB_DIR STREQUAL "${MICROPY_DIR}/lib/micropython-lib")\n'
                         "        list(APPEND GIT_SUBMODULES lib/micropython-lib)\n    endif()\nendif()\n"),
}


def upstream_repo(root: Path, line: str = "v1.29", idf: str = "v5.5.2", change=None) -> tuple[Path, str]:
    """A MicroPython repository whose tag v1.29.0 holds the line's port tree and the fact files;
    change(repo) edits the tree before the commit. Returns (repo, the tag's commit)."""
    repo = _init(root / "upstream-micropython")
    lay_port_tree(repo, line)
    for rel, text in FACT_FILES.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text.replace("{idf}", idf))
    if change:
        change(repo)
    commit = _commit_all(repo, f"MicroPython {TAG} (fixture, line {line})")
    git(repo, "tag", "-a", TAG, "-m", TAG)
    return repo, commit


@pytest.fixture
def env(tmp_path):
    """Settings for invoke: a releases file of the user's, the simulated IDF v5.5.2, kconfgen from here."""
    idf = tmp_path / "idf-v5.5.2"
    add_idf_tree(idf, "v5.5.2")
    return {"INVOKE_MPFORGE_RELEASES_FILE": str(tmp_path / "my-releases.toml"),
            "INVOKE_MPFORGE_IDF_DIR": str(idf), "INVOKE_MPFORGE_IDF_PYTHON": sys.executable}


USER_FILE = ('# my own pins\n[[release]]\nversion = "v1.28.0"\ncommit = "e0e9fbb17ed6fd06bb76e266ae554784c9c80804"\n'
             'idf = "v5.5.1"\nline = "v1.26"  # the v1.28 one\n')


def test_a_release_that_fits_a_line_is_pinned(tmp_path, invoke_run, env):
    repo, commit = upstream_repo(tmp_path)
    mine = Path(env["INVOKE_MPFORGE_RELEASES_FILE"])
    mine.write_text(USER_FILE)
    env = {**env, "INVOKE_MPFORGE_MICROPYTHON_URL": repo.as_uri()}
    dry = invoke_run("--dry", "releases-add", TAG, env=env)
    assert dry.returncode == 0 and f"would pin it in {mine}" in dry.stdout, dry.stderr
    assert mine.read_text() == USER_FILE  # a dry run checks everything and writes nothing
    result = invoke_run("releases-add", TAG, env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"{TAG} is {commit[:12]}" in out and "line v1.29, ESP-IDF v5.5.2 (>= v5.3.0)" in out
    assert f"config ok for {len(profiles.available())} profiles; pinned in {mine}" in out
    assert "esp32s3-n8r2" in out and "quad" in out and "partitions-4MiBplus.csv" in out
    assert max(len(line) for line in out.splitlines() if str(tmp_path) not in line) <= 80, out
    text = mine.read_text()
    assert text.startswith(USER_FILE)  # the user's entry and comments are kept, byte for byte
    pinned = releases.table(mine)[TAG]
    assert (pinned.commit, pinned.idf, pinned.idf_min, pinned.line) == (commit, "v5.5.2", "v5.3.0", "v1.29")
    assert pinned.submodules == ("lib/berkeley-db-1.xx", "lib/micropython-lib")  # not lwip: the port sets no LWIP
    assert releases.table(mine)["v1.28.0"].line == "v1.26"
    rows = {r["micropython"]: r for r in json.loads(invoke_run("releases", "--json", env=env).stdout)}
    assert rows[TAG]["commit"] == commit and rows[TAG]["commit_source"] == "pinned" and rows[TAG]["overlay"] == "overlays/v1.29"
    assert commit[:12] in invoke_run("releases", env=env).stdout
    # again: the same entry, nothing written
    again = invoke_run("releases-add", TAG, "--json", env=env)
    assert again.returncode == 0, again.stderr
    data = json.loads(again.stdout)
    assert data["written"] is False and data["facts"]["idf_readme"] == "v5.5.2" and mine.read_text() == text
    assert data["facts"]["variants"] == {"ESP32_GENERIC_S3": "variant-file"}
    assert not list((tmp_path / "work" / "tmp").glob("releases-add-*"))  # the scratch checkout is gone


def test_tree_reads_the_tag_not_the_checked_out_files(tmp_path, invoke_run, env):
    """--tree: the tag's commit and files come from git's objects; the checkout has moved past the tag
    and its work tree lacks a file the line relies on."""
    repo, commit = upstream_repo(tmp_path)
    (repo / "ports/esp32/boards/sdkconfig.flash_qio_80m").unlink()
    _commit_all(repo, "later work")
    (repo / "ports/esp32/boards/sdkconfig.spiram_quad").unlink()  # and an uncommitted change
    result = invoke_run("releases-add", TAG, "--tree", str(repo), env=env)
    assert result.returncode == 0, result.stderr
    assert releases.table(env["INVOKE_MPFORGE_RELEASES_FILE"])[TAG].commit == commit


def test_board_files_no_line_knows_are_refused(tmp_path, invoke_run, env):
    """A release that drops the board's sdkconfig.board from a v1.26 tree: the issue's own example."""
    repo, _ = upstream_repo(tmp_path, "v1.26", "v5.5.1",
                            change=lambda r: (r / "ports/esp32/boards/ESP32_GENERIC_S3/sdkconfig.board").unlink())
    mine = Path(env["INVOKE_MPFORGE_RELEASES_FILE"])
    mine.write_text(USER_FILE)
    result = invoke_run("releases-add", TAG, "--url", repo.as_uri(), env=env)
    line = one_line_error(result)
    assert "v1.29.0: ports/esp32/boards/ESP32_GENERIC_S3/sdkconfig.board is gone: line v1.26 includes it" in line
    assert "report it as an issue at mpforge with this line" in line and "a new line needs overlays/<line>/" in line
    assert mine.read_text() == USER_FILE


def test_a_renamed_snippet_is_named(tmp_path, invoke_run, env):
    def rename(r):
        boards = r / "ports/esp32/boards"
        (boards / "sdkconfig.spiram_quad").rename(boards / "sdkconfig.spiram_quad_psram")
    repo, _ = upstream_repo(tmp_path, change=rename)
    result = invoke_run("releases-add", TAG, "--url", repo.as_uri(), env=env)
    assert "ports/esp32/boards/sdkconfig.spiram_quad is gone: line v1.29 includes it" in one_line_error(result)
    assert not Path(env["INVOKE_MPFORGE_RELEASES_FILE"]).exists()


def test_a_moved_tag_is_refused(tmp_path, invoke_run, env):
    repo, first = upstream_repo(tmp_path)
    env = {**env, "INVOKE_MPFORGE_MICROPYTHON_URL": repo.as_uri()}
    assert invoke_run("releases-add", TAG, env=env).returncode == 0
    mine = Path(env["INVOKE_MPFORGE_RELEASES_FILE"])
    before = mine.read_text()
    (repo / "moved.txt").write_text("the tag moved\n")
    moved = _commit_all(repo, "moved")
    git(repo, "tag", "-f", "-a", TAG, "-m", "again")
    line = one_line_error(invoke_run("releases-add", TAG, env=env))
    assert f"now points at {moved[:12]}, but releases_file pins it to {first[:12]}: the tag moved" in line
    assert mine.read_text() == before
    # a release mpforge itself pins, whose tag here is another commit
    git(repo, "tag", "-a", "v1.28.0", "-m", "v1.28.0")
    line = one_line_error(invoke_run("releases-add", "v1.28.0", env=env))
    assert f"now points at {moved[:12]}, but mpforge's table pins it to e0e9fbb17ed6: the tag moved" in line
    assert mine.read_text() == before


def test_a_tag_recorded_by_the_first_fetch_that_moved_is_refused(tmp_path, invoke_run, env):
    from mpforge.model import taglock

    repo, _ = upstream_repo(tmp_path)
    taglock.record(tmp_path / "work", TAG, "1" * 40)
    line = one_line_error(invoke_run("releases-add", TAG, "--url", repo.as_uri(), env=env))
    assert "its first fetch recorded 111111111111: the tag moved" in line


def test_tree_without_the_tag_or_not_a_checkout(tmp_path, invoke_run, env):
    repo, _ = upstream_repo(tmp_path)
    git(repo, "tag", "-d", TAG)
    assert f"the checkout {repo} has no tag v1.29.0" in one_line_error(
        invoke_run("releases-add", TAG, "--tree", str(repo), env=env))
    plain = tmp_path / "plain"
    plain.mkdir()
    assert "is not a git checkout" in one_line_error(invoke_run("releases-add", TAG, "--tree", str(plain), env=env))
    assert f"has no tag {TAG}" in one_line_error(invoke_run("releases-add", TAG, "--url", repo.as_uri(), env=env))
    assert not Path(env["INVOKE_MPFORGE_RELEASES_FILE"]).exists()


@pytest.mark.parametrize("tag", ["v1.29", "1.29.0", "v1.29.0;touch x", "../v1.29.0", "--upload-pack=x", "v1.29.0-preview"])
def test_a_bad_tag_is_refused_before_git(tag):
    with pytest.raises(UserError, match="is not a release tag like v1.29.0"):
        releaseadd.check_tag(tag)


def test_no_releases_file_says_how_to_set_one(tmp_path, invoke_run):
    line = one_line_error(invoke_run("releases-add", TAG, "--url", "file:///nowhere",
                                     env={"INVOKE_MPFORGE_RELEASES_FILE": ""}))
    assert "no releases_file is set" in line and "INVOKE_MPFORGE_RELEASES_FILE" in line


def test_a_config_mismatch_for_one_profile_refuses(tmp_path, env, monkeypatch):
    """The line's facts broken for one flash size (16 MB names a table the tree lacks): the profiles
    of that size fail the config tier, and nothing is written."""
    repo, _ = upstream_repo(tmp_path)
    real = lines.load

    def broken(name):
        line = real(name)
        return dataclasses.replace(line, partitions={**line.partitions, "16MB": "partitions-16MiB.csv"})

    monkeypatch.setattr(lines, "load", broken)
    s = settings.from_config({"mpforge": {"workdir": str(tmp_path / "work"), "releases_file": env[
        "INVOKE_MPFORGE_RELEASES_FILE"], "idf": {"dir": env["INVOKE_MPFORGE_IDF_DIR"], "python": sys.executable}}})
    with pytest.raises(UserError) as refused:
        releaseadd.add(s, TAG, url=repo.as_uri())
    text = str(refused.value)
    assert "v1.29.0 on line v1.29: profile esp32s3-n16r8 resolves partition table valid" in text
    assert "nothing was written" in text
    assert not Path(env["INVOKE_MPFORGE_RELEASES_FILE"]).exists()


# ---- upstream tier: the facts of every real release -------------------------------------

MP_REPO = os.environ.get("MPFORGE_UPSTREAM_MICROPYTHON")


@pytest.mark.skipif(not MP_REPO, reason="upstream tier: set MPFORGE_UPSTREAM_MICROPYTHON to a MicroPython clone")
@pytest.mark.parametrize("version", [v for v, r in releases.RELEASES.items() if r.commit])
def test_the_facts_of_each_real_release_are_mpforges_table(version):
    """releases-add would write what mpforge's own table says, for every pinned release."""
    tree = releaseadd.TagTree(Path(MP_REPO), version)
    boards = sorted({profiles.load(n).board for n in profiles.available()})
    facts = releaseadd.port_facts(tree, boards)
    line, _closest, found = releaseadd.pick_line(tree, boards)
    r = releases.RELEASES[version]
    assert line is not None, found
    assert (line.name, facts.idf, facts.idf_min or facts.idf, facts.submodules) == \
        (r.line, r.idf, r.idf_min, tuple(sorted(r.submodules)))
    assert facts.variants == {b: line.variant_mechanism for b in boards}


@pytest.mark.parametrize("line", ["v1.22", "v1.24", "v1.26", "v1.29"])
def test_each_lines_made_tree_picks_its_line(tmp_path, line):
    """The facts of every line tell the lines' trees apart (the variant mechanism among them)."""
    repo, _ = upstream_repo(tmp_path, line)
    tree = releaseadd.TagTree(repo, TAG)
    picked, _closest, found = releaseadd.pick_line(tree, ["ESP32_GENERIC_S3"])
    assert picked is not None and picked.name == line, found
    facts = releaseadd.port_facts(tree, ["ESP32_GENERIC_S3"])
    assert facts.variants["ESP32_GENERIC_S3"] == lines.load(line).variant_mechanism


def test_an_if_block_line_needs_the_if_blocks(tmp_path):
    """The v1.22 line's variant mechanism is a fact of its data ([upstream.contains]): a tree whose
    board cmake no longer switches on MICROPY_BOARD_VARIANT does not fit it."""
    from mpforge.config import upstream

    def drop_if_blocks(r):
        cmake = r / "ports/esp32/boards/ESP32_GENERIC_S3/mpconfigboard.cmake"
        cmake.write_text("\n".join(l for l in cmake.read_text().splitlines() if "MICROPY_BOARD_VARIANT" not in l))
    repo, _ = upstream_repo(tmp_path, "v1.22", change=drop_if_blocks)
    found = upstream.problems(lines.load("v1.22"), releaseadd.TagTree(repo, TAG), "ESP32_GENERIC_S3")
    assert found == ["ports/esp32/boards/ESP32_GENERIC_S3/mpconfigboard.cmake does not mention "
                     "MICROPY_BOARD_VARIANT: line v1.22 declares variants there"]
    assert upstream.problems(lines.load("v1.22"), repo / "ports/esp32", "ESP32_GENERIC_S3") == found  # on disk too
