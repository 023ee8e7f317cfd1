"""Real git repositories made by the tests, served over file:// URLs.

- a MicroPython repository whose tags v1.23.0, v1.24.1 and v1.28.0 hold the
  fixture port tree of their release line (tests/fixtures/port), with the
  berkeley-db and micropython-lib submodules;
- an ESP-IDF repository whose tags v5.0.4, v5.2.2 and v5.5.1 hold the
  simulated IDF (tests/fixtures/idf: install.sh, export.sh, a build that
  writes valid ESP32-S3 images), with one submodule;
- a releases file pinning those tags to the commits made here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HARNESS = Path(__file__).resolve().parent
FIXTURES = HARNESS.parent / "fixtures"

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "mpforge tests", "GIT_AUTHOR_EMAIL": "tests@mpforge.invalid",
    "GIT_COMMITTER_NAME": "mpforge tests", "GIT_COMMITTER_EMAIL": "tests@mpforge.invalid",
    "GIT_CONFIG_COUNT": "2",
    "GIT_CONFIG_KEY_0": "protocol.file.allow", "GIT_CONFIG_VALUE_0": "always",
    "GIT_CONFIG_KEY_1": "init.defaultBranch", "GIT_CONFIG_VALUE_1": "main",
}

# tag -> (release line, IDF tag)
MICROPYTHON_TAGS = {"v1.23.0": ("v1.22", "v5.0.4"), "v1.24.1": ("v1.24", "v5.2.2"), "v1.28.0": ("v1.26", "v5.5.1")}
SUBMODULES = ("lib/berkeley-db-1.xx", "lib/micropython-lib")


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout.strip()


def _init(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    return path


def _commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def _clear_tree(repo: Path, keep=(".git", ".gitmodules", "lib")) -> None:
    for entry in repo.iterdir():
        if entry.name in keep:
            continue
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def make_plain_repo(path: Path, name: str) -> str:
    """A one-commit repository standing in for a submodule; returns its URL."""
    repo = _init(path)
    (repo / "README.md").write_text(f"{name} (test submodule)\n")
    _commit_all(repo, f"{name}")
    return repo.as_uri()


@dataclass
class Sources:
    micropython_url: str
    micropython_repo: Path
    idf_url: str
    idf_repo: Path
    commits: dict  # micropython tag -> commit
    releases_file: Path

    def env(self) -> dict:
        """INVOKE_MPFORGE_* settings pointing mpforge at these repositories."""
        return {
            "INVOKE_MPFORGE_MICROPYTHON_URL": self.micropython_url,
            "INVOKE_MPFORGE_IDF_URL": self.idf_url,
            "INVOKE_MPFORGE_RELEASES_FILE": str(self.releases_file),
            "INVOKE_MPFORGE_OS_PACKAGES": "",  # the OS packages step has its own test
            "SIM_IDF_PYTHON": sys.executable,  # the simulated IDF's Python (needs esptool)
            "SIM_CMAKE": shutil.which("cmake") or "",  # the cmake the simulated IDF installs
        }


def lay_port_tree(dest: Path, line: str) -> None:
    """The fixture port tree of a release line: common files, then the line's."""
    for layer in ("common", line):
        shutil.copytree(FIXTURES / "port" / layer, dest, dirs_exist_ok=True)


def make_micropython(root: Path) -> tuple[Path, dict]:
    repo = _init(root / "micropython")
    for path in SUBMODULES:
        url = make_plain_repo(root / "upstream" / Path(path).name, path)
        git(repo, "submodule", "add", "-q", url, path)
    commits = {}
    for tag, (line, _idf) in MICROPYTHON_TAGS.items():
        _clear_tree(repo)
        lay_port_tree(repo, line)
        commits[tag] = _commit_all(repo, f"MicroPython {tag} (fixture, line {line})")
        git(repo, "tag", "-a", tag, "-m", tag)
    return repo, commits


def make_idf(root: Path) -> Path:
    repo = _init(root / "esp-idf")
    url = make_plain_repo(root / "upstream" / "esp-idf-sub", "components/bt/controller/lib")
    git(repo, "submodule", "add", "-q", url, "components/bt/controller/lib")
    for tag in sorted({idf for _line, idf in MICROPYTHON_TAGS.values()}):
        _clear_tree(repo, keep=(".git", ".gitmodules", "components"))
        add_idf_tree(repo, tag)
        _commit_all(repo, f"ESP-IDF {tag} (simulated)")
        git(repo, "tag", "-a", tag, "-m", tag)
    return repo


def add_idf_tree(dest: Path, tag: str) -> None:
    """The simulated IDF at a version: scripts, version.cmake, the build and images.py."""
    major, minor, patch = tag.lstrip("v").split(".")
    shutil.copytree(FIXTURES / "idf", dest, dirs_exist_ok=True)
    for name in ("install.sh", "export.sh"):
        path = dest / name
        path.write_text(path.read_text().replace("@MM@", f"{major}.{minor}"))
    (dest / "tools" / "cmake").mkdir(parents=True, exist_ok=True)
    (dest / "tools" / "cmake" / "version.cmake").write_text(
        f"set(IDF_VERSION_MAJOR {major})\nset(IDF_VERSION_MINOR {minor})\nset(IDF_VERSION_PATCH {patch})\n"
    )
    shutil.copy(HARNESS / "images.py", dest / "tools" / "images.py")


def write_releases_file(path: Path, commits: dict, idf_commits: dict) -> Path:
    lines = []
    for tag, commit in commits.items():
        line, idf = MICROPYTHON_TAGS[tag]
        lines += ["[[release]]", f'version = "{tag}"', f'commit = "{commit}"', f'idf = "{idf}"',
                  f'idf_min = "{idf}"', f'line = "{line}"', f'idf_commit = "{idf_commits[idf]}"', ""]
    path.write_text("\n".join(lines))
    return path


def add_release(sources: Sources, version: str, line: str, idf: str) -> str:
    """One more release in the made repositories: the line's fixture tree as a new commit
    tagged `version` (unless a line's commit has the tag), a simulated ESP-IDF `idf` if it
    is missing, and its pinned entry in the releases file; returns the commit."""
    mp_repo, idf_repo = sources.micropython_repo, sources.idf_repo
    if idf not in git(idf_repo, "tag").split():
        add_idf_tree(idf_repo, idf)
        _commit_all(idf_repo, f"ESP-IDF {idf} (simulated)")
        git(idf_repo, "tag", "-a", idf, "-m", idf)
    if version not in git(mp_repo, "tag").split():
        _clear_tree(mp_repo)
        lay_port_tree(mp_repo, line)
        _commit_all(mp_repo, f"MicroPython {version} (fixture, line {line})")
        git(mp_repo, "tag", "-a", version, "-m", version)
    commit = git(mp_repo, "rev-parse", f"{version}^{{commit}}")
    idf_commit = git(idf_repo, "rev-parse", f"{idf}^{{commit}}")
    with sources.releases_file.open("a") as out:
        out.write(f'[[release]]\nversion = "{version}"\ncommit = "{commit}"\nidf = "{idf}"\nidf_min = "{idf}"\n'
                  f'line = "{line}"\nidf_commit = "{idf_commit}"\n\n')
    sources.commits[version] = commit
    return commit


def make_sources(root: Path) -> Sources:
    mp_repo, commits = make_micropython(root)
    idf_repo = make_idf(root)
    idf_commits = {idf: git(idf_repo, "rev-parse", f"{idf}^{{commit}}") for _line, idf in MICROPYTHON_TAGS.values()}
    releases = write_releases_file(root / "releases.toml", commits, idf_commits)
    return Sources(mp_repo.as_uri(), mp_repo, idf_repo.as_uri(), idf_repo, commits, releases)
