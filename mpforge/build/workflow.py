"""`invoke ci`: a GitHub Actions workflow that builds a matrix of profiles x releases.

One job per (profile, release) pair, each on its own runner with the
container backend (the runners have docker; no ESP-IDF is installed on
them): `invoke config` first, then build and dist, and the dist folder is
uploaded as an artifact. A test job runs the project's own tests through
nox, and an optional pages job publishes every dist with its install page.

Every action is pinned to the full commit of a release tag (docs/ci.md says
which tags and when they were read), so a moved tag cannot change the
build. The workflow text is made here from fixed lines; the only values
from outside are profile names and release versions, and those are checked
against the profiles and releases mpforge knows before they are written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from mpforge import PROJECT_ROOT, state
from mpforge.errors import UserError
from mpforge.model import profiles as profiles_mod
from mpforge.model import releases as releases_mod

STEP = "ci"
DEFAULT_PATH = Path(".github") / "workflows" / "mpforge.yml"

#: Actions by full commit of a release tag (docs/ci.md).
ACTIONS = {
    "checkout": ("actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "setup-python": ("actions/setup-python", "5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "cache": ("actions/cache", "27d5ce7f107fe9357f9df03efb73ab90386fccae", "v5.0.5"),
    "upload-artifact": ("actions/upload-artifact", "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "download-artifact": ("actions/download-artifact", "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
    "upload-pages-artifact": ("actions/upload-pages-artifact", "fc324d3547104276b827a68afc52ff2a11cc49c9", "v5.0.0"),
    "deploy-pages": ("actions/deploy-pages", "cd2ce8fcbc39b97be8ca5fce6e763baed58fa128", "v5.0.0"),
}
PYTHON = "3.11"
# What may appear in the workflow as a profile name or release version.
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Pair:
    profile: str
    release: str


@dataclass(frozen=True)
class Written:
    """What `invoke ci` did."""

    path: Path
    pairs: list[Pair]
    profiles: list[str]
    releases: list[str]
    changed: bool  # False: the file already held this workflow


def generate(settings, profiles: list[str] | None, releases: list[str] | None,
             output: str | None, pages: bool | None, every: bool = False) -> Written:
    """The workflow for the profiles and releases asked for: flags, else the ci settings, else
    the default pair (settings profile and micropython.version); every=True: all of both."""
    chosen_profiles = (profiles_mod.available() if every else
                       [settings.profile_without_board if p == "auto" else p
                        for p in (profiles or settings.ci_profiles)] or [settings.default_profile])
    chosen_releases = (list(releases_mod.table(settings.releases_file)) if every else
                       [releases_mod.normalise(v) for v in (releases or settings.ci_releases)]
                       or [settings.micropython_version])
    for name in chosen_profiles:
        if not _SAFE.match(name):
            raise UserError(STEP, f"profile {name!r}: a CI build needs a profile by name from boards/ "
                            "(commit the file there)")
        profiles_mod.load(name)  # unknown or invalid: its own one-line error
    for version in chosen_releases:
        releases_mod.get(version, settings.releases_file)
    pairs = matrix(chosen_profiles, chosen_releases)
    path = Path(output).expanduser() if output else DEFAULT_PATH
    path = path if path.is_absolute() else PROJECT_ROOT / path
    use_pages = settings.ci_pages if pages is None else pages
    changed = write(path, render(pairs, pages=use_pages))
    return Written(path, pairs, chosen_profiles, chosen_releases, changed)


def _uses(name: str) -> str:
    repo, commit, tag = ACTIONS[name]
    return f"{repo}@{commit}  # {tag}"


def matrix(profiles: list[str], releases: list[str]) -> list[Pair]:
    """Every (profile, release) pair, each once, in the order given; names checked for the YAML."""
    for value in [*profiles, *releases]:
        if not _SAFE.match(value):
            raise UserError(STEP, f"{value!r} cannot go into a workflow; use profile names from boards/ "
                            "and release versions such as v1.28.0")
    pairs = [Pair(p, r) for r in releases for p in profiles]
    return list(dict.fromkeys(pairs))


def render(pairs: list[Pair], pages: bool = False) -> str:
    """The workflow YAML. JSON strings are YAML scalars, so every value is written with json.dumps."""
    include = "\n".join(f"          - {{profile: {json.dumps(p.profile)}, release: {json.dumps(p.release)}}}"
                        for p in pairs)
    # Both jobs start the same way: the repository, then the Python mpforge runs on.
    checkout_and_python = (f"      - uses: {_uses('checkout')}\n      - uses: {_uses('setup-python')}\n"
                           f"        with:\n          python-version: {json.dumps(PYTHON)}\n")
    lines = f"""\
# Written by `invoke ci` (mpforge). Builds every (profile, release) pair in the
# ESP-IDF container image of its release and uploads each dist folder.
name: mpforge firmware

on:
  push:
  pull_request:
  workflow_dispatch:

permissions:
  contents: read

jobs:
  test:
    runs-on: ubuntu-latest
    steps:
{checkout_and_python}      - run: python -m pip install nox
      - run: python -m nox --session tests

  firmware:
    name: ${{{{ matrix.profile }}}} @ ${{{{ matrix.release }}}}
    runs-on: ubuntu-latest
    strategy:
      fail-fast: false
      matrix:
        include:
{include}
    env:
      INVOKE_MPFORGE_BUILD_BACKEND: container
      PROFILE: ${{{{ matrix.profile }}}}
      RELEASE: ${{{{ matrix.release }}}}
    steps:
{checkout_and_python}      - run: python -m pip install -r requirements.txt
      - name: Cache the MicroPython clone
        uses: {_uses("cache")}
        with:
          path: work/micropython/${{{{ matrix.release }}}}
          key: mpforge-micropython-${{{{ matrix.release }}}}-${{{{ hashFiles('mpforge/**/releases*') }}}}
      - name: Check the configuration
        run: invoke config --profile "$PROFILE" --micropython "$RELEASE"
      - name: Build
        run: invoke build --profile "$PROFILE" --micropython "$RELEASE"
      - name: Collect the dist folder
        run: invoke dist --profile "$PROFILE" --micropython "$RELEASE"
      - uses: {_uses("upload-artifact")}
        with:
          name: ${{{{ matrix.profile }}}}-${{{{ matrix.release }}}}
          path: dist/${{{{ matrix.profile }}}}-${{{{ matrix.release }}}}
          if-no-files-found: error
"""
    if pages:
        lines += f"""
  pages:
    needs: firmware
    if: github.event_name != 'pull_request'
    runs-on: ubuntu-latest
    permissions:
      pages: write
      id-token: write
    environment:
      name: github-pages
      url: ${{{{ steps.deploy.outputs.page_url }}}}
    steps:
      - uses: {_uses("download-artifact")}
        with:
          path: site
      - name: Index of the builds
        run: |
          {{
            echo '<!doctype html><meta charset="utf-8"><title>mpforge firmware</title><h1>mpforge firmware</h1><ul>'
            for dir in site/*/; do
              name=$(basename "$dir")
              echo "<li><a href=\\"$name/index.html\\">$name</a></li>"
            done
            echo '</ul>'
          }} > site/index.html
      - uses: {_uses("upload-pages-artifact")}
        with:
          path: site
      - id: deploy
        uses: {_uses("deploy-pages")}
"""
    return lines


def write(path: Path, text: str) -> bool:
    """Write the workflow; False when the file already holds exactly this text."""
    try:
        if path.read_text() == text:
            return False
    except (FileNotFoundError, NotADirectoryError):
        pass  # a new file; a parent that is not a folder fails below with the write
    except OSError as exc:
        raise UserError(STEP, f"cannot read {path}: {exc.strerror}") from None
    try:
        state.atomic_write(path, text)
    except OSError as exc:
        raise UserError(STEP, f"cannot write {path}: {exc.strerror}; choose another --output") from None
    return True
