"""`invoke --list` shows the first line of each task's docstring: that line must be a
whole sentence (not one cut where the line breaks), short enough to read at a glance."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

LONGEST = 80  # invoke's help column at 80 terminal columns is ~60 wide: two lines at most


def first_lines() -> dict[str, tuple[str, str]]:
    """Each task's first docstring line and the line after it."""
    import tasks
    from invoke import Collection

    found = {}
    collection = Collection.from_module(tasks)
    for name in collection.task_names:
        lines = [line.strip() for line in (collection[name].__doc__ or "").strip().splitlines()] + [""]
        found[name] = (lines[0], lines[1])
    return found


def test_every_task_opens_with_one_short_whole_sentence():
    bad = {name: first for name, (first, after) in first_lines().items()
           if not first.endswith(".") or after != "" or len(first) > LONGEST}
    assert bad == {}, f"first docstring lines cut mid-sentence or over {LONGEST} characters: {bad}"


def test_invoke_list_shows_each_sentence_whole():
    """At 80 columns invoke wraps the help; every first sentence still ends on the page."""
    listed = subprocess.run([sys.executable, "-m", "invoke", "--list"], cwd=ROOT, capture_output=True,
                            text=True, check=True, env={"COLUMNS": "80", "PATH": "/usr/bin:/bin"}).stdout
    text = " ".join(listed.split())
    for name, (first, _) in first_lines().items():
        assert " ".join(first.split()) in text, name
    assert max(len(line) for line in listed.splitlines()) <= 80
