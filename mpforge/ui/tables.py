"""The tables tasks print, laid out by rich for the terminal's width: at 80 columns
a long cell wraps inside its column at a space, and a wider terminal gets the room.
Each function returns the text; ui/__init__.py prints it. Every cell is a Text, so
text from a board or a profile is shown as it is, never read as rich markup."""

from __future__ import annotations

import io
import os
import shutil

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text


def width(stream=None) -> int:
    """The terminal's width: COLUMNS when set, else that of `stream`'s terminal (default:
    stdout's), else 80 (no terminal)."""
    if stream is None or os.environ.get("COLUMNS"):
        return shutil.get_terminal_size((80, 24)).columns
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, OSError, ValueError):  # not a terminal, or a stream without a file
        return shutil.get_terminal_size((80, 24)).columns


def _console(columns: int | None, out=None) -> Console:
    return Console(file=out or io.StringIO(), width=columns or width(), color_system=None, markup=False,
                   highlight=False, emoji=False, soft_wrap=False, legacy_windows=False)


def render(renderable, columns: int | None = None) -> str:
    """What rich draws for `renderable` in `columns` (default: the terminal's), as plain text."""
    out = io.StringIO()
    _console(columns, out).print(renderable)
    return "\n".join(line.rstrip() for line in out.getvalue().rstrip("\n").splitlines())


def wrapped(text: str, columns: int | None = None) -> str:
    """One line of text laid out for `columns` (default: the terminal's): wrapped at spaces,
    the lines after the first indented under what follows its leading 'name: ' (a hanging
    indent); only a word longer than the room there (a long path) is folded."""
    room = columns or width()
    head, sep, rest = text.partition(": ")
    if not sep or " " in head or len(head) + 2 > room // 3:
        return render(Text(text, overflow="fold"), columns)
    grid = Table.grid(padding=0)
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row(Text(head + sep), Text(rest, overflow="fold"))
    return render(grid, columns)


def table(header: tuple[str, ...], rows, *, keep: tuple[int, ...] = (), indent: int = 0,
          columns: int | None = None) -> str:
    """Rows under a header; columns in `keep` never wrap (names, ports), the others wrap at spaces."""
    grid = Table(box=None, show_header=bool(header), header_style="", pad_edge=False, padding=(0, 2, 0, 0),
                 show_edge=False)
    for i, name in enumerate(header):
        grid.add_column(Text(name), no_wrap=i in keep, overflow="fold",
                        min_width=max((len(word) for word in name.split()), default=0))
    for row in rows:  # a word longer than its column (a path) folds rather than losing its end
        grid.add_row(*(Text(str(cell), overflow="fold") for cell in row))
    return render(Padding(grid, (0, 0, 0, indent)), columns)


def status(label: str, rows: list[tuple[str, bool, str]], *, columns: int | None = None) -> str:
    """`invoke status`: each step, done or to do, and why (without the step's name again)."""
    cells = [(name, "done" if ok else "to do", message.removeprefix(f"{name}: ")) for name, ok, message in rows]
    return label + "\n" + table((), cells, keep=(0, 1), indent=2, columns=columns)


def verify_board(port: str, profile: str, checks, error: str = "", *, columns: int | None = None) -> str:
    """One board's verify: a heading (port, profile, PASS or FAIL), a line for each check that
    failed or did not apply (its name, what was wanted, what was found), and the checks that
    passed named in one line, wrapped at spaces."""
    from rich.console import Group

    bad = [c for c in checks if c.passed is False]
    passed = [c for c in checks if c.passed is True]
    shown = [c for c in checks if c.passed is not True]
    counted = len(bad) + len(passed)
    if error:
        verdict = "FAIL: no report"
    elif bad:
        verdict = f"FAIL: {len(bad)} of {counted} checks failed"
    else:
        verdict = f"PASS: all {counted} checks passed"
    parts = [Text(f"{port}  {profile}  {verdict}", overflow="fold")]
    if error:
        parts.append(Padding(Text(error), (0, 0, 0, 2)))
    if shown:
        parts.append(Padding(_checks_grid(shown, columns), (0, 0, 0, 2)))
    if passed:
        more = "more " if shown else ""
        names = ", ".join(c.name for c in passed)
        parts.append(Padding(Text(f"{len(passed)} {more}check{'s' if len(passed) > 1 else ''} passed: {names}"),
                             (0, 0, 0, 2)))
    return render(Group(*parts), columns)


def _checks_grid(shown, columns: int | None):
    """verify's checks that failed or did not apply, as rows of (result, check, wanted, found)."""
    return pairs(("", "check", "wanted", "found"), [(c.result, c.name, c.expected, c.found) for c in shown],
                 columns)


def pairs(heads: tuple[str, str, str, str], rows, columns: int | None = None, indent: int = 2):
    """Rows of (mark, name, wanted, found) under heads, a line each; where a row would not fit
    the width on one line, each row holds wanted and found one under the other instead,
    labelled with their heads ('wanted ...', 'found ...'), so no word is split."""
    from rich.measure import Measurement

    def grid(names):
        table = Table(box=None, show_header=True, header_style="", pad_edge=False, padding=(0, 2, 0, 0),
                      show_edge=False)
        for i, name in enumerate(names):
            table.add_column(Text(name), no_wrap=i < 2, overflow="fold", min_width=len(name))
        return table

    rows = [tuple(str(cell) for cell in row) for row in rows]
    wide = grid(heads)
    for row in rows:
        wide.add_row(*(Text(cell, overflow="fold") for cell in row))
    console = _console(columns)
    unbounded = console.options.update_width(10_000)  # its width unwrapped, not clamped to the console's
    if Measurement.get(console, unbounded, Padding(wide, (0, 0, 0, indent))).maximum <= console.width:
        return wide
    label = max(len(heads[2]), len(heads[3])) + 1
    stacked = grid((heads[0], heads[1], ""))
    for mark, name, wanted, found in rows:
        stacked.add_row(Text(mark), Text(name), Text(f"{heads[2]:<{label}}{wanted}\n{heads[3]:<{label}}{found}",
                                                     overflow="fold"))
    if Measurement.get(console, unbounded, Padding(stacked, (0, 0, 0, indent))).minimum <= console.width:
        return stacked  # no word split
    from rich.console import Group

    mark_width = max(len(row[0]) for row in rows) + 2 if rows else 0
    below = []  # the name on its line, wanted and found under it
    for mark, name, wanted, found in rows:
        values = Table.grid(padding=(0, 1, 0, 0))
        values.add_column(no_wrap=True)
        values.add_column(overflow="fold")
        values.add_row(Text(heads[2]), Text(wanted, overflow="fold"))
        values.add_row(Text(heads[3]), Text(found, overflow="fold"))
        below += [Text(f"{mark:<{mark_width}}{name}", overflow="fold"), Padding(values, (0, 0, 0, mark_width))]
    return Group(*below)


def config(report, *, columns: int | None = None) -> str:
    """config's Report: the job, the defaults files, the C modules, then each setting with what
    the profile wants and what the resolved sdkconfig has."""
    from rich.console import Group

    head = (f"config: {report.profile} @ micropython {report.release}, ESP-IDF {report.idf}, "
            f"{report.board} variant {report.variant}")
    parts = [Text(wrapped(head, columns)), Padding(Text(wrapped(f"defaults: {' '.join(report.defaults)}",
                                                                 (columns or width()) - 2)), (0, 0, 0, 2))]
    for module in report.c_modules:
        names = ", ".join(module["names"]) or "no names in its sources"
        parts.append(Padding(Text(wrapped(f"C module: {module['path']} ({names})", (columns or width()) - 2)),
                             (0, 0, 0, 2)))
    parts.append(Padding(pairs(("", "setting", "want", "got"),
                               [("ok" if r.ok else "BAD", r.setting, r.want, r.got) for r in report.rows],
                               columns), (0, 0, 0, 2)))
    return render(Group(*parts), columns)
