"""The live multi-board display (mpforge/ui/live.py Boards), drawn into a recorded rich
Console at 40 and 200 columns and replayed on a terminal emulator (pyte), the
way a terminal would show it: one line per port, nothing left of longer lines."""

from __future__ import annotations

import io
import time

import pyte
import pytest
from rich.console import Console

from mpforge import ui
from mpforge.ui import live

PORTS = ["/dev/ttyACM0", "/dev/ttyACM1", "socket://127.0.0.1:45678"]


def screen_after(width: int, steps) -> list[str]:
    """Run `steps(display)` on a live display at `width` columns; the emulated screen's lines."""
    out = io.StringIO()
    console = Console(file=out, width=width, height=24, force_terminal=True, color_system="standard",
                      record=True, legacy_windows=False)
    with ui.Boards("flash", PORTS, console=console) as display:
        steps(display)
        display.live.refresh()
    screen = pyte.Screen(width, 24)
    stream = pyte.Stream(screen)
    stream.feed(out.getvalue().replace("\n", "\r\n"))  # as the tty driver does (onlcr)
    return [line.rstrip() for line in screen.display]


def busy(display):
    """Long texts first (they would wrap at 40 columns), then short ones, with transfers."""
    for port in PORTS:
        display.status(port, "connecting to the ROM bootloader, then starting the flasher stub "
                             "and switching to 921600 baud")
        display.live.refresh()
    display.status(PORTS[0], "app 0x10000")
    display.progress(PORTS[0], 0, 2_000_000)
    time.sleep(live.RATE_AFTER + 0.05)  # a rate shows once the transfer has run that long
    display.progress(PORTS[0], 900_000, 2_000_000)
    display.status(PORTS[1], "app 0x10000")
    display.progress(PORTS[1], 10_000, 1_500_000)
    display.live.refresh()
    display.status(PORTS[2], "done: wrote 1.4 MB in 4.2 s at 921600 baud")  # 68 columns


@pytest.mark.parametrize("width", [40, 200])
def test_one_line_per_port_and_no_leftovers(width):
    lines = [line for line in screen_after(width, busy) if line]
    assert len(lines) == len(PORTS), lines
    for port, line in zip(PORTS, lines):
        assert line.startswith(port[: width - 1]), line
        assert len(line) <= width
    # Nothing of the long first texts is left anywhere on the screen.
    assert not any("bootloader" in line or "stub" in line for line in lines), lines
    if width == 200:
        assert lines[2].endswith("done: wrote 1.4 MB in 4.2 s at 921600 baud")
    else:  # cut, with an ellipsis, not wrapped
        assert lines[2].startswith("socket://127.0.0.1:45678  done") and lines[2].endswith("…")
    assert "app 0x10000" in lines[1]
    if width == 200:  # room for everything: bar, percent, bytes, rate, time left
        assert "45%" in lines[0] and "879 KB/1.9 MB" in lines[0] and "/s" in lines[0]
        assert "left" in lines[0] and "━" in lines[0]
    else:  # at 40 columns the figures give way before the line would wrap
        assert "━" not in lines[0]


def test_narrow_port_name_is_cut_not_wrapped():
    lines = [line for line in screen_after(12, busy) if line]
    assert len(lines) == len(PORTS) and all(len(line) <= 12 for line in lines), lines


def test_plain_lines_off_a_terminal():
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=False)
    with ui.Boards("flash", PORTS[:1], console=console) as display:
        display.status(PORTS[0], "connecting")
        display.status(PORTS[0], "connecting")  # no change: no new line
        display.status(PORTS[0], "app 0x10000")
        for done in range(0, 1_000_001, 50_000):
            display.progress(PORTS[0], done, 1_000_000)
        display.detail(PORTS[0], "esptool says something")  # not verbose: not shown
    lines = out.getvalue().splitlines()
    assert "\x1b" not in out.getvalue()
    assert lines[:2] == ["flash /dev/ttyACM0: connecting", "flash /dev/ttyACM0: app 0x10000"]
    assert [line.split()[4] for line in lines[2:]] == ["0%", "25%", "50%", "75%", "100%"]


def test_verbose_shows_details():
    out = io.StringIO()
    with ui.Boards("flash", PORTS[:1], console=Console(file=out, width=80), verbose=True) as display:
        display.detail(PORTS[0], "Connecting....\nChip is ESP32-S3")
    assert out.getvalue().splitlines() == ["/dev/ttyACM0: Connecting....", "/dev/ttyACM0: Chip is ESP32-S3"]


class _Tty(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("width", [40, 200])
def test_single_progress_line_never_wraps_or_leaves_text(width, monkeypatch):
    """ui.Progress (build targets, mpy-cross and IDF install lines) on a terminal of `width` columns."""
    import os

    monkeypatch.setattr(live.shutil, "get_terminal_size", lambda fallback=None: os.terminal_size((width, 24)))
    out = _Tty()
    progress = ui.Progress("build")
    progress.stream, progress.tty = out, True
    progress.update(10, 1200, "Building C object esp-idf/freertos/CMakeFiles/__idf_freertos.dir/port.c.obj")
    progress.activity("12 files compiled (../py/parse.c)")
    screen = pyte.Screen(width, 5)
    pyte.Stream(screen).feed(out.getvalue().replace("\n", "\r\n"))
    lines = [line.rstrip() for line in screen.display if line.strip()]
    assert lines == ["build: 12 files compiled (../py/parse.c)"[: width - 1]]  # the last column would wrap


def test_no_rate_from_the_first_blocks():
    """The first block lands in the chip's buffer at once: a rate from it is noise (thousands of
    MB/s against the ROM peer), so rate and time left show only after RATE_AFTER seconds."""
    row = live._Row()
    row.started, row.done, row.total = 100.0, 16_384, 1_600_000
    early = row.progress_parts(100.0 + live.RATE_AFTER / 10)
    assert early == ["1%", "16 KB/1.5 MB"]
    later = row.progress_parts(100.0 + live.RATE_AFTER * 2)
    assert later[:2] == early and later[2].endswith("/s") and later[3].endswith(" left")
