"""The no-op path: a second run starts no program, reads git's files itself,
and still sees every change; `invoke --list` and `status` load no board code.

Against real git repositories made by the tests and the simulated ESP-IDF
(see test_pipeline.py). Programs started are logged by tests/harness/
spawn_log.py, which wraps the one function every Python child process goes
through. Speed itself is measured by scripts/bench.py, never here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import ROOT, one_line_error
from harness.fake_repos import git

from mpforge.source import gitfiles

SPAWN_LOG = ROOT / "tests" / "harness" / "spawn_log.py"
BOARD = "ports/esp32/boards/ESP32_GENERIC_S3"


def spawned(mp, tmp_path, *args):
    """Run invoke with every program it starts logged: (result, [command lines])."""
    log = tmp_path / "spawned.log"
    log.unlink(missing_ok=True)
    result = subprocess.run([sys.executable, str(SPAWN_LOG), str(log), *args], cwd=ROOT, env=mp.env,
                            capture_output=True, text=True, timeout=300)
    return result, (log.read_text().splitlines() if log.exists() else [])


def test_second_build_all_and_status_start_no_program(mp, tmp_path):
    first = mp("build-all")
    assert first.returncode == 0, first.stdout + first.stderr
    result, started = spawned(mp, tmp_path, "build-all")
    assert result.returncode == 0, result.stdout + result.stderr
    steps = [l for l in result.stdout.splitlines() if not l.startswith("==")]
    assert len(steps) == 6 and all(l.endswith(", up to date") for l in steps), steps
    assert started == []  # no git, cmake, kconfgen or package query
    status, started = spawned(mp, tmp_path, "status")
    assert status.returncode == 0 and status.stdout.count(" done ") == 6, status.stdout
    assert started == []


def test_config_evaluates_the_board_once(mp, tmp_path):
    assert mp("build-all").returncode == 0
    result, started = spawned(mp, tmp_path, "config")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok  flash size" in result.stdout
    assert len([c for c in started if "board_defaults.cmake" in c]) == 1, started
    assert len([c for c in started if "kconfgen" in c]) == 1, started


def test_changes_after_a_noop_are_still_seen(mp, tmp_path):
    assert mp("build-all").returncode == 0
    assert mp("build-all").returncode == 0  # the stamps of the no-op path are written
    tree = tmp_path / "work" / "micropython" / "v1.28.0"
    # A hand edit in the board folder: the overlay's own check runs and refuses it.
    cmake = tree / BOARD / "mpconfigboard.cmake"
    cmake.write_text(cmake.read_text() + "# mine\n")
    assert "edits mpforge did not make" in one_line_error(mp("build-all"))
    git(tree, "checkout", "--", f"{BOARD}/mpconfigboard.cmake")
    # A submodule that is no longer checked out: fetch checks it out again.
    subprocess.run(["git", "submodule", "deinit", "-q", "-f", "lib/micropython-lib"], cwd=tree, check=True)
    again = mp("build-all")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "fetch: checking out submodules" in again.stdout
    assert (tree / "lib" / "micropython-lib" / "README.md").is_file()
    # A deleted image: the build's own check runs and builds again.
    (tree / "ports/esp32/build-ESP32_GENERIC_S3-FLASH_16M_SPIRAM_OCT" / "micropython.bin").unlink()
    rebuilt = mp("build-all")
    assert rebuilt.returncode == 0 and "build: building" in rebuilt.stdout, rebuilt.stdout + rebuilt.stderr


def _git_links(repo):
    """{path: commit} of gitlinks, as git itself lists the index."""
    out = git(repo, "ls-files", "--stage")
    return {line.split("\t", 1)[1]: line.split()[1] for line in out.splitlines() if line.startswith("160000")}


def test_head_and_gitlinks_read_from_files_match_git(tmp_path, sources):
    repo = tmp_path / "mp"
    git(tmp_path, "clone", "-q", str(sources.micropython_repo), str(repo))
    git(repo, "submodule", "update", "-q", "--init")
    assert gitfiles.head(repo) == git(repo, "rev-parse", "HEAD")  # a branch, loose ref
    for sub in ("lib/micropython-lib", "lib/berkeley-db-1.xx"):  # gitdir: files, detached HEADs
        assert gitfiles.head(repo / sub) == git(repo / sub, "rev-parse", "HEAD")
    links = gitfiles.gitlinks(repo)
    assert links == _git_links(repo) and len(links) == 2
    git(repo, "checkout", "-q", "v1.24.1")  # detached
    assert gitfiles.head(repo) == git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "packed", "v1.23.0")
    git(repo, "pack-refs", "--all")  # the branch now lives in packed-refs only
    assert not (repo / ".git" / "refs" / "heads" / "packed").exists()
    assert gitfiles.head(repo) == git(repo, "rev-parse", "v1.23.0^{commit}")
    git(repo, "worktree", "add", "-q", str(tmp_path / "linked"), "v1.28.0")  # commondir
    assert gitfiles.head(tmp_path / "linked") == git(repo, "rev-parse", "v1.28.0^{commit}")
    (repo / "new.txt").write_text("x\n")
    git(repo, "add", "-N", "new.txt")  # intent-to-add: an index v3 entry with extended flags
    assert gitfiles.gitlinks(repo) == _git_links(repo)
    git(repo, "update-index", "--index-version", "4")  # prefix-compressed paths
    assert gitfiles.gitlinks(repo) == _git_links(repo) and len(_git_links(repo)) == 2
    assert gitfiles.head(tmp_path) is None and gitfiles.gitlinks(tmp_path) is None  # not a repository


def test_gitlinks_index_v4_long_prefix(tmp_path):
    """Index v4 says how much of the previous path to drop as git's offset varint: a drop
    of 128 bytes or more takes two bytes (the continuation), here 252 and 250."""
    repo = tmp_path / "r"
    git(tmp_path, "init", "-q", str(repo))
    long = "d/" + "x" * 250
    (repo / "d").mkdir()
    (repo / long).write_text("a\n")
    git(repo, "add", long)
    sha = "0123456789abcdef0123456789abcdef01234567"  # a gitlink's commit need not be here
    for path in ("d/y/sub", "e/sub"):  # after the long path: drops 250, then 252 bytes
        git(repo, "update-index", "--add", "--cacheinfo", f"160000,{sha},{path}")
    git(repo, "update-index", "--index-version", "4")
    assert (repo / ".git" / "index").read_bytes()[4:8] == b"\0\0\0\x04"
    assert gitfiles.gitlinks(repo) == _git_links(repo) == {"d/y/sub": sha, "e/sub": sha}


def test_a_task_caches_mpforge_compiled(mp):
    """invoke turns the .pyc cache off for a run; tasks.py turns it on for mpforge, so a task
    does not compile mpforge's modules again each time (what `invoke --write-pyc` would do)."""
    import importlib.util

    cached = Path(importlib.util.cache_from_source(str(ROOT / "mpforge" / "model" / "settings.py")))
    cached.unlink(missing_ok=True)
    env = {k: v for k, v in mp.env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    result = subprocess.run([sys.executable, "-m", "invoke", "--list"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert cached.is_file()


def test_list_and_status_load_no_board_code(mp):
    """-X importtime names every module a command imports (on stderr)."""
    for args in (["--list"], ["status"]):
        result = subprocess.run([sys.executable, "-X", "importtime", "-m", "invoke", *args], cwd=ROOT,
                                env=mp.env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        modules = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
        assert "invoke" in modules  # the listing works at all
        assert not {m for m in modules if m.split(".")[0] in ("esptool", "serial", "mpremote")}, args
