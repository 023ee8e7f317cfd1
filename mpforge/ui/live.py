"""Output that redraws itself: a step's progress line, and one live line per board.

On a terminal both are redrawn in place and cut to its width (rich draws the
boards); off a terminal (CI logs) they are plain lines written now and then.
"""

from __future__ import annotations

import shutil
import sys

from mpforge.text import size_text


class Progress:
    """A single progress line, redrawn on a terminal, every 10% otherwise.

    On a terminal the line is cleared and cut to the terminal's width before
    each redraw, so it never wraps and never leaves the end of a longer line;
    off a terminal it is cut to the width too (80 columns unless COLUMNS says).
    """

    def __init__(self, step: str, stream=None):
        self.step = step
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.last_decile = -1
        self.drawn = False

    def update(self, done: int, total: int, what: str = "") -> None:
        if total <= 0:
            return
        pct = min(100, done * 100 // total)
        line = f"{self.step}: [{done}/{total}] {pct:3d}% {what}"
        if self.tty:
            self._draw(line)
        elif pct // 10 != self.last_decile:
            self.last_decile = pct // 10
            self.stream.write(line[:shutil.get_terminal_size((80, 24)).columns] + "\n")
            self.stream.flush()

    def activity(self, what: str) -> None:
        """Work without a known total (a count, the current item): drawn on a terminal only."""
        if self.tty and what.strip():
            self._draw(f"{self.step}: {what.strip()}")

    def _draw(self, line: str) -> None:
        width = shutil.get_terminal_size((80, 24)).columns - 1  # the last column would wrap
        self.stream.write("\r\x1b[2K" + line[:width])
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


# ---- several boards at once: one line per port ----------------------------------------

# A rate from the first block alone is noise (it is in the chip's buffer, not yet across
# the link: thousands of MB/s against the ROM peer); it shows after this many seconds.
RATE_AFTER = 0.5


def _short_time(seconds: float) -> str:
    seconds = max(0, int(seconds + 0.5))
    return f"{seconds // 60}:{seconds % 60:02d}"


class _Row:
    """What one port's line shows: its status, and a transfer's progress while one runs."""

    def __init__(self):
        self.text = "waiting"
        self.style = ""
        self.done = 0
        self.total = 0
        self.sent = 0  # bytes over the link for `done`, when fewer (compressed)
        self.started = 0.0

    def progress_parts(self, now: float) -> list[str]:
        """'45%', '720 KB/1.6 MB', '(310 KB sent)' where the link carries fewer bytes than are
        written, then '310 KB/s', '0:03 left' once RATE_AFTER seconds have passed. Sizes are bytes written."""
        if self.total <= 0:
            return []
        parts = [f"{min(100, self.done * 100 // self.total)}%",
                 f"{size_text(self.done)}/{size_text(self.total)}"]
        if self.sent and self.sent != self.done:
            parts.append(f"({size_text(self.sent)} sent)")
        elapsed = now - self.started
        if self.done and elapsed >= RATE_AFTER:
            rate = self.done / elapsed
            parts += [f"{size_text(int(rate))}/s", f"{_short_time((self.total - self.done) / rate)} left"]
        return parts

    @property
    def figures(self) -> int:
        """How many of progress_parts are the percent and the byte figures (the rest: rate, time)."""
        return 3 if self.sent and self.sent != self.done else 2


BAR_MIN, BAR_GOOD, BAR_MAX, TEXT_MIN = 4, 10, 30, 10


def _bar(row: _Row, width: int, console):
    """rich's ProgressBar of `width` cells for the row's transfer, as a Text."""
    from rich.console import Console
    from rich.progress_bar import ProgressBar
    from rich.text import Text

    console = console or Console(width=width, color_system=None, legacy_windows=False)
    bar = ProgressBar(total=row.total, completed=min(row.done, row.total), width=width)
    text = Text(no_wrap=True, end="")
    for segment in console.render(bar, console.options.update_width(width)):
        if segment.text and not segment.control:
            text.append(segment.text, style=segment.style)
    return text


def board_line(port: str, row: _Row, width: int, now: float, port_width: int = 0, console=None):
    """One port's line as a rich Text of at most `width` cells: never wraps, whatever the width.

    While a transfer runs, the line keeps a bar (rich's ProgressBar): what gives way as the
    width shrinks is, in this order, the rate and time left (once the bar would be shorter
    than BAR_GOOD cells), the bar's length (down to BAR_MIN), the byte figures, then the
    status text (cut with an ellipsis, down to TEXT_MIN); only where even that leaves no
    room does the bar go.
    """
    from rich.text import Text

    name = port.ljust(port_width)
    parts = row.progress_parts(now)
    head = len(name) + 2

    def room(text: str, keep: int) -> int:
        tail = ("  " + " ".join(parts[:keep])) if keep else ""
        return width - head - len(text) - 2 - len(tail)

    text, keep, bar = row.text, len(parts), 0
    if parts:
        fitted = next(((k, room(text, k)) for k in (len(parts), row.figures) if room(text, k) >= BAR_GOOD),
                      None) or next(((k, room(text, k)) for k in (row.figures, 1) if room(text, k) >= BAR_MIN),
                                    None)
        if fitted is None and width - head - 2 - BAR_MIN - len(parts[0]) - 2 >= TEXT_MIN:  # the text gives way
            cut = width - head - 2 - BAR_MIN - len(parts[0]) - 2
            text = row.text if len(row.text) <= cut else row.text[:cut - 1] + "…"
            fitted = (1, BAR_MIN)
        if fitted is not None:
            keep, bar = fitted[0], min(BAR_MAX, fitted[1])
        else:  # no room for a bar: the figures that fit, else none
            keep = next((k for k in (len(parts), row.figures, 0) if room(text, k) + 2 >= 0 or k == 0), 0)
    line = Text(no_wrap=True, overflow="ellipsis", end="")
    line.append(name, style="bold")
    line.append("  ")
    line.append(text, style=row.style)
    if bar:
        line.append("  ")
        line.append_text(_bar(row, bar, console))
    shown = parts[:keep]
    if shown:
        line.append("  " + " ".join(shown))
    line.truncate(width, overflow="ellipsis")
    return line


class Boards:
    """The live display of one or many boards: one line per port.

    On a terminal, a rich Live region redrawn in place; every line is cut to
    the terminal's width, so none wraps and a redraw leaves nothing behind. Off
    a terminal (CI logs), plain lines: each new status once, and a transfer's
    progress every 25%. `detail` lines (esptool's output, the REPL exchange)
    show only with verbose, above the live region.
    """

    def __init__(self, step: str, ports: list[str], console=None, verbose: bool = False,
                 stderr: bool = False):
        import threading

        self.step = step
        self.ports = list(ports)
        # bound to the stream of now: a thread's redirect_stdout must not take the display along
        self.stream = sys.stderr if stderr else sys.stdout
        self.console = console
        if console is None and self.stream.isatty():
            from rich.console import Console  # only a terminal needs rich: plain lines are written here

            self.console = Console(file=self.stream, highlight=False, soft_wrap=False)
        self.verbose = verbose
        self.rows = {port: _Row() for port in self.ports}
        self.port_width = min(max(len(p) for p in self.ports), 24) if self.ports else 0
        self.lock = threading.RLock()
        self.live = None
        self.quarter = {port: -1 for port in self.ports}

    @property
    def on_terminal(self) -> bool:
        return self.console is not None and self.console.is_terminal

    # rich calls this on each refresh
    def __rich_console__(self, console, options):
        import time

        now = time.monotonic()
        with self.lock:
            lines = [board_line(p, self.rows[p], options.max_width, now, self.port_width, console)
                     for p in self.ports]
        for i, line in enumerate(lines):
            line.end = "\n" if i < len(lines) - 1 else ""
            yield line

    def __enter__(self):
        if self.on_terminal:
            from rich.live import Live

            self.live = Live(self, console=self.console, refresh_per_second=8, transient=False,
                             redirect_stdout=False, redirect_stderr=False)
            self.live.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        if self.live is not None:
            self.live.refresh()
            self.live.stop()
            self.live = None

    def status(self, port: str, text: str, style: str = "") -> None:
        """What the board on `port` is doing now (ends any transfer's progress)."""
        with self.lock:
            row = self.rows[port]
            changed = text != row.text
            row.text, row.style, row.total, row.done, row.sent = text, style, 0, 0, 0
            self.quarter[port] = -1
            if self.live is None and changed:
                self._plain(port, text)

    def progress(self, port: str, done: int, total: int, sent: int = 0) -> None:
        """A transfer on `port`: `done` of `total` bytes (sent: the bytes over the link for
        them, where fewer)."""
        import time

        with self.lock:
            row = self.rows[port]
            if total != row.total or done < row.done:
                row.started = time.monotonic()
            row.done, row.total, row.sent = done, total, sent
            if self.live is None and total > 0:
                quarter = min(4, done * 4 // total)
                if quarter != self.quarter[port]:
                    self.quarter[port] = quarter
                    self._plain(port, f"{row.text} {' '.join(row.progress_parts(time.monotonic()))}")

    def detail(self, port: str, text: str) -> None:
        """A log line (esptool's output, the REPL exchange): shown with verbose only."""
        if not self.verbose:
            return
        with self.lock:
            for line in text.splitlines() or [""]:
                self._print(f"{port}: {line}", style="dim")

    def _plain(self, port: str, text: str) -> None:
        self._print(f"{self.step} {port}: {text}")

    def _print(self, text: str, style: str = "") -> None:
        if self.console is None:
            self.stream.write(text + "\n")
            self.stream.flush()
            return
        from rich.text import Text

        (self.live.console if self.live else self.console).print(Text(text, style=style), soft_wrap=True)
