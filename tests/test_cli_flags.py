"""One flag language: every task's help (`invoke --help TASK`) read and checked
against mpforge/cli.py's table, invoke's own flags and the README's flags table."""

from __future__ import annotations

import contextlib
import io
import json
import re

import pytest
from invoke import Program

from conftest import ROOT
from mpforge import cli

# "  -b INT, --baud=INT   help" / "  --force   help" / "  -P, --port   help"
_FLAG = re.compile(r"^  (?:-(?P<short>\w)(?: \[?\w+\]?)?, )?--(?P<long>[a-z][\w-]*)")


def _invoke(*args) -> tuple[str, str]:
    """Run invoke's own Program in this process (as `invoke ARGS` would): (stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        Program(name="invoke", binary="invoke").run(["invoke", "--search-root", str(ROOT), *args], exit=False)
    return out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def flags_by_task():
    """{task: {long flag: short letter or ''}} from each task's own help text."""
    names = [t["name"] for t in json.loads(_invoke("--list", "--list-format", "json")[0])["tasks"]]
    assert "flash" in names and "verify" in names
    result = {}
    for name in names:
        text = _invoke("--help", name)[0]
        options = text.split("Options:", 1)[1] if "Options:" in text else ""
        flags = {}
        for line in options.splitlines():
            m = _FLAG.match(line)
            if m:
                flags[m["long"]] = m["short"] or ""
                assert line[m.end():].strip(" =STRINGINT[]"), f"{name} --{m['long']} has no help text"
        result[name] = flags
    return result


def test_every_letter_means_the_same_flag_everywhere(flags_by_task):
    letters: dict[str, set[str]] = {}
    for task, flags in flags_by_task.items():
        for long, short in flags.items():
            assert short == cli.SHORT.get(long, ""), f"{task} --{long} is -{short}"
            if short:
                letters.setdefault(short, set()).add(long)
    assert all(len(longs) == 1 for longs in letters.values()), letters


def test_no_letter_shadows_invoke_own(flags_by_task):
    core = {m["short"] for line in _invoke("--help")[0].splitlines() if (m := _FLAG.match(line))
            and m["short"]}
    assert {"f", "d", "e", "h", "l", "p", "V"} <= core  # read from invoke itself
    assert core == set(cli.INVOKE_CORE)
    used = {short for flags in flags_by_task.values() for short in flags.values() if short}
    assert not used & core, used & core


def test_baud_is_a_number():
    assert "-b INT, --baud=INT" in _invoke("--help", "flash")[0]
    out, err = _invoke("erase", "--baud", "fast")
    assert err.strip() == "error: --baud takes a whole number, not 'fast'"


def test_readme_flags_table_matches_the_tasks(flags_by_task):
    """README's '## Flags' table: | `--long` | `-x` | tasks | ... one row per flag, in full."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Flags\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`--"):
            rows[cells[0].strip("`")[2:]] = (cells[1].strip("`").lstrip("-"),
                                              sorted(t.strip(" `") for t in cells[2].split(",")))
    wanted = {}
    for task, flags in flags_by_task.items():
        for long, short in flags.items():
            wanted.setdefault(long, (short, []))[1].append(task)
    wanted = {long: (short, sorted(tasks)) for long, (short, tasks) in wanted.items()}
    assert rows == wanted
