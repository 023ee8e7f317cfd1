"""Git sources: clones at a pinned tag, checks of existing checkouts, submodules.

Clones go to a temporary sibling first and are renamed into place only when
complete and at the right commit, so an interrupted clone leaves nothing
half-done behind and a moved tag never becomes a checkout.
"""

from __future__ import annotations

import contextlib

import shutil
import sys
from pathlib import Path

from mpforge import shell
from mpforge.errors import UserError
from mpforge.source import gitfiles


def _git(step: str, args: list[str], cwd: Path | None = None, dry: bool = False, check: bool = True):
    return shell.run(step, ["git", *args], cwd=cwd, dry=dry, check=check, capture=True)


def _git_long(step: str, args: list[str], cwd: Path | None = None, check: bool = True):
    """A long git command (clone, submodules): on a terminal git shows its own progress;
    otherwise it runs quietly and its own reason goes into the error (shell.failure_reason)."""
    if sys.stderr.isatty():  # git draws progress on a terminal by itself
        return shell.run(step, ["git", *args], cwd=cwd, check=check)
    return shell.run(step, ["git", args[0], "--quiet", *args[1:]], cwd=cwd, check=check, capture=True)


# git's own words for causes the user can fix, and what to do about each.
_CAUSES = (("No space left on device", "free some space on {where} (or point mpforge.workdir elsewhere) and run again"),
           ("Could not resolve host", "check the network connection and the URL setting"),
           ("Permission denied", "check the permissions of {where} and of the repository"),
           ("Read-only file system", "point mpforge.workdir at a writable folder"))


def _what_to_do(reason: str, where: Path) -> str:
    for words, advice in _CAUSES:
        if words.lower() in reason.lower():
            return advice.format(where=where)
    return ""


def _after_failed_clone(reason: str, where: Path, step: str) -> str:
    """The next step after a clone failed: the cause's own advice, else what to check; then
    that nothing partial is left and the one command that retries."""
    advice = _what_to_do(reason, where) or (
        f"check the network (and https_proxy/http_proxy behind a proxy), the URL setting and the free "
        f"space on {where}")
    return f"{advice}; nothing partial is kept, so `invoke {step}` retries"


def is_checkout(path: Path) -> bool:
    """True when path is the top of a git work tree (read from its .git, no git run)."""
    if gitfiles.git_dir(path) is not None:
        return True
    if not (path / ".git").exists():
        return False
    result = _git("git", ["rev-parse", "--show-toplevel"], cwd=path, check=False)
    return result.returncode == 0 and Path(result.stdout.strip()).resolve() == path.resolve()


def require_checkout(path: Path, what: str, *, missing: str = "", not_git: str) -> None:
    """`path` is a folder and a git checkout; else one line: `what` and `path`, and what to do."""
    if not path.is_dir():
        raise UserError(f"{what} {path} does not exist" + (f"; {missing}" if missing else ""))
    if not is_checkout(path):
        raise UserError(f"{what} {path} is not a git checkout ({not_git})")


def head(path: Path) -> str:
    """The checked-out commit: read from the repository files, else asked of git."""
    return gitfiles.head(path) or shell.output("git", ["git", "rev-parse", "HEAD"], cwd=path)


def describe(path: Path) -> str:
    """A human name for the checked-out commit, e.g. 'v1.27.0' or 'v1.27.0-12-gabc1234'."""
    result = _git("git", ["describe", "--tags", "--always"], cwd=path, check=False)
    return result.stdout.strip() or "unknown"


def clone(step: str, url: str, dest: Path, tag: str, commit: str | None, *, dry: bool) -> None:
    """Shallow-clone url at tag into dest; with commit, refuse a tag that moved."""
    shell.require(step, "git")
    partial = dest.with_name(f".{dest.name}.partial")
    cmd = ["clone", "--depth", "1", "--branch", tag, "--", url, str(partial)]  # "--": a URL is never an option
    if dry:
        shell.run(step, ["git", *cmd], dry=True)
        return
    if partial.exists():  # left by an interrupted run
        shutil.rmtree(partial)
    made = [d for d in (dest.parent, *dest.parent.parents) if not d.exists()]  # innermost first
    dest.parent.mkdir(parents=True, exist_ok=True)
    result = _git_long(step, cmd, check=False)
    if result.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        for folder in made:  # the folders made for it, so that nothing of the attempt stays
            with contextlib.suppress(OSError):
                folder.rmdir()
        reason = shell.failure_reason(result.stderr or "") or "see git's output above"
        raise UserError(step, f"could not clone {url} at {tag}: {reason}", hint=_after_failed_clone(reason, dest.parent, step))
    got = head(partial)
    if commit and got != commit:
        shutil.rmtree(partial, ignore_errors=True)
        raise UserError(
            step, f"tag {tag} in {url} points at {got[:7]}, but mpforge pins {commit[:7]}; "
            "the tag moved, so this is not the code mpforge was made for (pin it in a releases_file if you trust it)"
        )
    partial.rename(dest)


def missing_submodules(repo: Path, paths: tuple[str, ...] | None = None, recursive: bool = False) -> list[str]:
    """Submodules that are not checked out ('-') or at another commit ('+').

    Named submodules are compared from the files (index gitlink against the
    submodule's HEAD); all of them, or recursively, is asked of git."""
    links = gitfiles.gitlinks(repo) if paths and not recursive else None
    if links is not None:
        return [p for p in paths if not links.get(p) or gitfiles.head(repo / p) != links[p]]
    args = ["submodule", "status"] + (["--recursive"] if recursive else []) + (["--", *paths] if paths else [])
    result = _git("git", args, cwd=repo, check=False)
    if result.returncode != 0:
        return list(paths or ["(all)"])
    missing = []
    for line in result.stdout.splitlines():
        if line[:1] in "-+U":
            missing.append(line[1:].split()[1])
    return missing


def update_submodules(step: str, repo: Path, paths: tuple[str, ...] | None = None, *,
                      recursive: bool = False, dry: bool) -> None:
    """Check out submodules, shallow where the server allows it."""
    base = ["submodule", "update", "--init"] + (["--recursive"] if recursive else [])
    tail = ["--", *paths] if paths else []
    if dry:
        shell.run(step, ["git", *base, "--depth", "1", *tail], cwd=repo, dry=True)
        return
    shallow = _git_long(step, [*base, "--depth", "1", *tail], cwd=repo, check=False)
    if shallow.returncode != 0:
        # A server that refuses to serve a commit by hash needs a full fetch.
        _git_long(step, [*base, *tail], cwd=repo)


def dirty(repo: Path, pathspec: str) -> list[str]:
    """Tracked files under pathspec that differ from HEAD ('M path' lines)."""
    out = _git("git", ["status", "--porcelain", "--untracked-files=no", "--", pathspec], cwd=repo).stdout
    return [line[3:] for line in out.splitlines() if line.strip()]


def tracked_content(repo: Path, relpath: str) -> str | None:
    """A file's content at HEAD, or None when git does not track it."""
    result = _git("git", ["show", f"HEAD:{relpath}"], cwd=repo, check=False)
    return result.stdout if result.returncode == 0 else None


def folder_state(folder: Path) -> dict | None:
    """The commit of the checkout a folder is in, and whether anything below the folder
    differs from it (untracked files too); None when the folder is in no git checkout."""
    found = _git("git", ["rev-parse", "HEAD"], cwd=folder, check=False)
    if found.returncode != 0:
        return None
    changed = _git("git", ["status", "--porcelain", "--", "."], cwd=folder, check=False)
    return {"commit": found.stdout.strip(), "dirty": bool(changed.stdout.strip())}
