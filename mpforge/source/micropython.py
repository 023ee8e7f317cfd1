"""The MicroPython source tree: a clone at the release's pinned commit (or the
user's own checkout, checked), with the submodules the esp32 port needs.

Submodules are fetched with git directly: the port's own `make submodules`
needs an exported ESP-IDF from v1.21 on (docs/micropython-esp32.md
§6), and fetch must work before the IDF exists.
"""

from __future__ import annotations

from mpforge.source import gitfiles, gitsrc
from mpforge import events
from mpforge.results import StepResult
from mpforge.errors import UserError
from mpforge.model.settings import Job
from mpforge.model import taglock

STEP = "fetch"


def status(job: Job) -> tuple[bool, str]:
    mp_dir, release = job.mp_dir, job.release
    if not gitsrc.is_checkout(mp_dir):
        return False, f"micropython {release.version} not cloned at {mp_dir}"
    commit = gitsrc.head(mp_dir)
    if not release.commit:
        return False, f"micropython {release.version}: the tag's commit is not recorded yet"
    if commit != release.commit:
        return False, f"{mp_dir} is at {gitsrc.describe(mp_dir)} ({commit[:7]}), not {release.version} ({release.short})"
    missing = gitsrc.missing_submodules(mp_dir, release.submodules)
    if missing:
        return False, f"submodules not checked out: {', '.join(missing)}"
    return True, f"micropython {release.version} at {release.short}"


def inputs(job: Job) -> list:
    """What status reads, from the repository files (no git run): HEAD, the submodules'
    gitlinks and their HEADs. The pipeline's up-to-date stamp hashes it."""
    mp_dir = job.mp_dir
    if not gitsrc.is_checkout(mp_dir):
        return ["not cloned"]
    links = gitfiles.gitlinks(mp_dir)
    if links is None:  # an index this reader does not know: no shortcut, status asks git each time
        raise OSError(f"cannot read the git index of {mp_dir}")
    return [gitsrc.head(mp_dir)] + [f"{p} {links.get(p)} {gitfiles.head(mp_dir / p)}" for p in job.release.submodules]


def ensure(job: Job) -> StepResult | None:
    """Clone or check the tree and its submodules (the pipeline asks status first)."""
    mp_dir, release, dry = job.mp_dir, job.release, job.settings.dry
    if job.settings.micropython_dir:
        check_checkout(job)
    elif mp_dir.exists():
        if not gitsrc.is_checkout(mp_dir):
            raise UserError(STEP, f"{mp_dir} exists but is not a git checkout; remove it and run again")
        if not release.commit:
            check_checkout(job)  # unpinned: the clone must be at the tag, then it is recorded
        elif gitsrc.head(mp_dir) != release.commit:
            raise UserError(STEP, status(job)[1], hint=f"remove {mp_dir} and run again")
    else:
        if not dry:  # a dry run's `would run: git clone ...` says it
            events.note(STEP, f"cloning micropython {release.version} into {mp_dir}")
        gitsrc.clone(STEP, job.settings.micropython_url, mp_dir, release.version, release.commit, dry=dry)
    if not release.commit and not dry:
        _lock(job)
    if not dry:
        events.note(STEP, f"checking out submodules: {', '.join(release.submodules)}")
    gitsrc.update_submodules(STEP, mp_dir, release.submodules, dry=dry)
    return None if dry else StepResult(STEP, f"micropython {release.version} at {gitsrc.head(mp_dir)[:7]}, ready")


def _lock(job: Job) -> None:
    """Trust on first use: record the commit the unpinned tag points at (model/taglock.py)."""
    commit = gitsrc.head(job.mp_dir)
    taglock.record(job.settings.workdir, job.release.version, commit)
    events.note(STEP, f"recorded micropython {job.release.version} at {commit[:7]} (first fetch); "
                "a tag that later points elsewhere is refused")


def check_checkout(job: Job) -> None:
    """The tree exists, is a git checkout and is at the release's commit (one-line errors)."""
    mp_dir, release = job.mp_dir, job.release
    what = "micropython.dir" if job.settings.micropython_dir else "the MicroPython clone"
    gitsrc.require_checkout(mp_dir, what, missing="run `invoke fetch`",
                            not_git="the build needs git; clone MicroPython with git")
    commit = gitsrc.head(mp_dir)
    if not release.commit:
        if gitsrc.describe(mp_dir) != release.version:
            raise UserError(f"{what} {mp_dir} is at {gitsrc.describe(mp_dir)} ({commit[:7]}), not at tag "
                            f"{release.version}; run `git -C {mp_dir} checkout {release.version}`")
        return
    if commit != release.commit and gitsrc.describe(mp_dir) == release.version:
        raise UserError(
            f"{what} {mp_dir} is at tag {release.version}, but there the tag points at {commit[:7]}, not at "
            f"{release.short} where mpforge pins it (the tag moved); run `git -C {mp_dir} checkout "
            f"{release.commit}`, or pin {commit[:7]} in a releases_file if you trust it"
        )
    if commit != release.commit:
        raise UserError(
            f"{what} {mp_dir} is at {gitsrc.describe(mp_dir)} ({commit[:7]}), not {release.version} "
            f"({release.short}); run `git -C {mp_dir} checkout {release.version}` or pass --micropython for its release"
        )
