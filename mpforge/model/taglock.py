"""Trust on first use for a release whose entry pins no commit (releases.toml).

The first fetch records the commit the tag points at in the workdir,
<workdir>/state/tag-locks.json, like a lock file; from then on the release
is pinned to it, so a tag that later points elsewhere is refused exactly as
for a built-in pin. `invoke releases` shows the recorded commit. Removing the
file (or the entry) trusts the tag again on the next fetch.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from mpforge import state
from mpforge.model.releases import Release

NAME = "tag-locks"
_HASH = re.compile(r"[0-9a-f]{40}")


def _state_dir(workdir: Path) -> Path:
    return Path(workdir) / "state"


def locks(workdir: Path) -> dict[str, str]:
    """version -> the commit its tag pointed at on first fetch (entries that are not hashes are ignored)."""
    data = state.read(_state_dir(workdir), NAME) or {}
    return {k: v for k, v in data.items() if isinstance(v, str) and _HASH.fullmatch(v)}


def pinned(release: Release, workdir: Path) -> Release:
    """The release with its recorded commit when the entry pins none (unchanged otherwise)."""
    if release.commit:
        return release
    commit = locks(workdir).get(release.version, "")
    return dataclasses.replace(release, commit=commit) if commit else release


def record(workdir: Path, version: str, commit: str) -> None:
    """Lock the tag to the commit it points at now (written atomically)."""
    data = locks(workdir)
    data[version] = commit
    state.write(_state_dir(workdir), NAME, data)
