"""The tables tasks print, laid out by rich for the terminal's width: at 80 columns
a long cell wraps inside its column at a space, and a wider terminal gets the room.
Each function returns the text; ui/__init__.py prints it. Every cell is a Text, so
text from a board or a profile is shown as it is, never read as rich markup."""

from __future__ import annotations

import io
import shutil

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text


def width() -> int:
    """The terminal's width (COLUMNS when set; 80 when there is no terminal)."""
    return shutil.get_terminal_size((80, 24)).columns


def render(renderable, columns: int | None = None) -> str:
    """What rich draws for `renderable` in `columns` (default: the terminal's), as plain text."""
    out = io.StringIO()
    console = Console(file=out, width=columns or width(), color_system=None, markup=False, highlight=False,
                      emoji=False, soft_wrap=False, legacy_windows=False)
    console.print(renderable)
    return "\n".join(line.rstrip() for line in out.getvalue().rstrip("\n").splitlines())


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
