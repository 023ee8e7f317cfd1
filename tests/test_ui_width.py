"""Human output at 80 and at 120 columns: no line wider than the terminal, and the
facts a user needs still there (each step's reason, each profile and its variant). The figures are rendered by the ui code the tasks use, with
rich at a fixed width (COLUMNS, as a terminal of that width sets it)."""

from __future__ import annotations

import io

import pytest

from mpforge import ui

LONG_PATH = "/home/someone/projects/firmware/mpforge-work/micropython/v1.28.0/ports/esp32/boards/ESP32_GENERIC_S3"


def flat(text: str) -> str:
    return " ".join(text.split())


def fits(text: str, width: int) -> None:
    wide = [line for line in text.splitlines() if len(line) > width]
    assert wide == [], f"lines wider than {width}: {wide}"


@pytest.fixture(params=[80, 120])
def width(request, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(request.param))
    return request.param


def test_status_fits_and_does_not_repeat_the_step(width, capsys):
    rows = [("fetch", True, "micropython v1.28.0 at 1a2b3c4, up to date"),
            ("overlay", False, f"overlay: {LONG_PATH} does not exist; is it a MicroPython v1.28.0 tree? "
                               "(run `invoke fetch`)")]
    ui.status_table("esp32s3-n16r8 @ micropython v1.28.0", rows)
    text = capsys.readouterr().out
    fits(text, width)
    assert "overlay: " not in text and "done" in text and "to do" in text
    assert LONG_PATH in "".join(text.split())  # a path longer than its column folds, whole
    assert "(run `invoke fetch`)" in flat(text)


def test_boards_fits_and_lists_every_profile(width):
    rows = [{"profile": f"esp32s3-n16r8{suffix}", "default": not suffix, "flash": "16 MB quad", "psram": "8 MB octal",
             "variant": f"FLASH_16M_SPIRAM_OCT{suffix.upper().replace('-', '_')}",
             "checked_on": ["v1.28.0", "v1.27.0", "v1.26.1", "v1.25.0"]} for suffix in ("", "-ota")]
    text = ui.boards_table(rows)
    fits(text, width)
    for r in rows:
        assert r["profile"] in text and r["variant"] in text  # never wrapped
    assert "v1.25.0" in text and "CHECKED" in text


def _detected(**facts):
    """A detect result as board/detect.py makes it, held against the shipped profiles."""
    from mpforge.board import detect, ports
    from mpforge.model import profiles

    board = detect.Board(facts.pop("port", "/dev/serial/by-id/usb-Espressif_USB_JTAG_serial_debug_unit_24:0A:C4:12:34:56-if00"),
                         ok=True, usb=ports.usb_path(0x303A, 0x1001), chip="ESP32-S3", chip_key="esp32s3",
                         description="ESP32-S3 (QFN56) (revision v0.2)", revision="v0.2", mac="24:0a:c4:12:34:56",
                         flash_id=0x184020, flash_size=16 * 1024 * 1024, flash_type="quad", psram_efuse=1,
                         psram_size=8 * 1024 * 1024, psram_mode="octal", psram_vendor="AP_3v3")
    for key, value in facts.items():
        setattr(board, key, value)
    board.fits = detect.hold(board, profiles.loadable()[0])
    return board


@pytest.mark.parametrize("case", ["fits", "unknown-flash", "no-match"])
def test_detect_fits_and_keeps_every_fact(width, case):
    from mpforge.ui import detect as ui_detect

    board = {"fits": lambda: _detected(),
             "unknown-flash": lambda: _detected(flash_id=0x454020, flash_size=0),
             "no-match": lambda: _detected(flash_size=4 * 1024 * 1024, flash_id=0x164020)}[case]()
    text = ui_detect.board_text(board)
    fits(text, width)
    assert "".join(board.port.split()) in "".join(text.split())  # a long port folds, whole
    assert "usb-serial-jtag: ESP32-S3 USB-Serial/JTAG (303A:1001)" in flat(text)
    assert "8 MB octal in the package (PSRAM eFuse 1, vendor AP_3v3)" in flat(text)
    if case == "fits":
        assert "esp32s3-n16r8: ESP32-S3, 16MB quad flash, 8MB octal PSRAM" in flat(text)
        assert "esp32s3-n16r8-ota (its own partition layout: only with --profile)" in flat(text)
    elif case == "unknown-flash":
        assert "size not known: esptool does not know capacity byte 45 (JEDEC id 454020)" in flat(text)
        assert "nearest esp32s3-n16r8: the board's flash size could not be read" in flat(text)
    else:
        assert "nearest esp32s3-n16r8: 16MB flash, the board has 4MB" in flat(text)
        assert "--new-profile NAME`" in flat(text)


# ---- verify: each board under a heading, a line per check that failed or did not apply ----

def _checks(probe, release="v1.28.0", **kw):
    from mpforge.board import checks
    from test_verify import REF

    return checks.run_checks(probe, REF, release, **kw)


def test_verify_report_fits_and_names_what_failed(width):
    from mpforge.ui import tables
    from test_verify import STOCK_PROBE

    found = _checks(STOCK_PROBE, frozen_modules=["app"])
    text = tables.verify_board("/dev/ttyACM0", "esp32s3-n16r8", found)
    fits(text, width)
    assert text.splitlines()[0] == "/dev/ttyACM0  esp32s3-n16r8  FAIL: 3 of 8 checks failed"
    for check in found:
        if check.passed is False:  # its name, what was wanted and what was found
            assert check.name in text and flat(check.expected) in flat(text) and flat(check.found) in flat(text)
    # a build id is one word: it is never split, at 80 columns either
    assert "ESP32_GENERIC_S3-FLASH_16M_SPIRAM_OCT" in text and "ESP32_GENERIC_S3-SPIRAM_OCT" in text
    assert "5 more checks passed: release, flash size, PSRAM heap, filesystem, CPU frequency" in flat(text)
    assert "16 MB" not in text  # a check that passed is named, not laid out


def test_verify_report_of_a_pass_is_a_heading_and_one_line(width):
    from mpforge.ui import tables
    from test_verify import REFERENCE_PROBE

    text = tables.verify_board("/dev/ttyACM0", "esp32s3-n16r8", _checks(REFERENCE_PROBE))
    fits(text, width)
    assert flat(text) == ("/dev/ttyACM0 esp32s3-n16r8 PASS: all 7 checks passed 7 checks passed: board name, "
                          "release, build id, flash size, PSRAM heap, filesystem, CPU frequency")


def test_verify_report_shows_a_check_that_does_not_apply(width):
    from mpforge.ui import tables
    from test_verify import REFERENCE_PROBE

    text = tables.verify_board("/dev/ttyACM0", "esp32s3-n16r8", _checks(REFERENCE_PROBE, "v1.24.1"))
    fits(text, width)
    assert "n/a before v1.25.0" in text and "wanted" in text and "found" in text
    assert [line.split()[:3] for line in text.splitlines() if line.startswith("  FAIL")] == [
        ["FAIL", "release", *(["v1.24.1"] if width == 120 else ["wanted"])]]


# ---- flash: the live lines, in bytes written with the link's bytes in brackets --------------

def test_flash_live_lines_keep_a_bar_and_count_bytes_written(width):
    """The live display (ui/live.py Boards) drawn on a recorded terminal of `width` columns and
    replayed on a terminal emulator (pyte), as test_ui_display does."""
    import io

    import pyte
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, width=width, height=24, force_terminal=True, color_system="standard",
                      legacy_windows=False)
    ports = ["/dev/ttyACM0", "/dev/ttyACM1"]
    with ui.Boards("flash", ports, console=console) as display:
        display.status(ports[0], "app 0x10000")
        display.progress(ports[0], 720 * 1024, 1600 * 1024, sent=310 * 1024)  # compressed on the link
        display.status(ports[1], "bootloader 0x0")
        display.progress(ports[1], 10 * 1024, 20 * 1024)  # sent as it is: no brackets
        display.live.refresh()
    screen = pyte.Screen(width, 24)
    pyte.Stream(screen).feed(out.getvalue().replace("\n", "\r\n"))
    lines = [line.rstrip() for line in screen.display if line.strip()]
    fits("\n".join(lines), width)
    assert len(lines) == 2, lines
    assert "━" in lines[0] and "━" in lines[1]  # a bar, at 80 columns too
    assert "45% 720 KB/1.6 MB (310 KB sent)" in lines[0]
    assert "50% 10 KB/20 KB" in lines[1] and "sent" not in lines[1]


# ---- every line: on a terminal wrapped at spaces, a progress line cut to the width ----------

class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_long_line_wraps_at_spaces_on_a_terminal(width, monkeypatch):
    """say / warn / a port's note (flash's summary, esptool's reset warning) on a terminal."""
    import sys

    from conftest import wrapped_at_spaces

    text = ("bootloader 0x0: written; partition-table 0x8000: written; app 0x10000: written; not reset: "
            "socket://127.0.0.1:45269 carries no reset lines (socket:// or a pseudo-terminal); press the "
            f"board's RESET button (before `invoke verify`) {LONG_PATH}")
    for show, stream in ((lambda: ui.say("flash", text), "stdout"), (lambda: ui.warn("flash", text), "stderr")):
        out = _Terminal()
        with monkeypatch.context() as patch:
            patch.setattr(sys, stream, out)
            show()
        lines = out.getvalue().splitlines()
        assert len(lines) > 1
        wrapped_at_spaces(f"flash: {'warning: ' if stream == 'stderr' else ''}{text}", lines, width)
    off = io.StringIO()  # off a terminal: one line, as logs and tests read it
    monkeypatch.setattr(sys, "stdout", off)
    ui.say("flash", text)
    assert off.getvalue() == f"flash: {text}\n"


def test_a_progress_line_off_a_terminal_fits_the_width(width):
    out = io.StringIO()
    progress = ui.Progress("build", stream=out)
    progress.update(10, 1200, f"Building C object {LONG_PATH}/esp-idf/freertos/CMakeFiles/port.c.obj")
    assert out.getvalue().startswith("build: [10/1200]   0% Building C object /home/")
    fits(out.getvalue(), width)


# ---- config's table, flash's table of boards, releases -------------------------------------

def test_config_table_fits_and_keeps_each_setting(width, capsys):
    from mpforge.config.check import Report, Row

    variant = "boards/ESP32_GENERIC_S3/sdkconfig.mpforge_FLASH_16M_SPIRAM_OCT"
    report = Report("esp32s3-n16r8", "v1.28.0", "v5.5.1", "ESP32_GENERIC_S3", "FLASH_16M_SPIRAM_OCT",
                    ["boards/sdkconfig.base", "boards/sdkconfig.ble", variant],
                    [Row("variant defaults last", variant, variant, True), Row("flash size", "16MB", "16MB", True),
                     Row("PSRAM speed", "120m", "40m", False),
                     Row("filesystem", ">= 13MB", "14MB (made at boot: 16MB flash - table end 0x200000)", True)])
    ui.config_table(report)
    text = capsys.readouterr().out
    fits(text, width)
    assert text.count(variant) == 3  # a path is never split
    assert "BAD  PSRAM speed" in text and "120m" in text and "40m" in text
    assert "14MB (made at boot: 16MB flash - table end 0x200000)" in flat(text)


def test_flash_table_of_boards_fits_and_shows_bytes_written(width, capsys):
    from mpforge.board.device import Result
    from mpforge.model.fingerprint import Fingerprint

    board = Fingerprint("ESP32-S3", 16 << 20, "quad", 8 << 20, "octal", "24:0a:c4:cb:fc:38")
    results = [Result(f"socket://127.0.0.1:4567{i}", ok=True, board=board, bytes_written=1600 << 10,
                      bytes_sent=620 << 10, total_bytes=1600 << 10, seconds=12.3, baud=921600, was_reset=True)
               for i in range(2)]
    ui.board_results("flash", results)
    text = capsys.readouterr().out
    fits(text, width)
    assert "socket://127.0.0.1:45671" in text and "24:0a:c4:cb:fc:38" in text and "12.3 s" in text
    import re

    written = [re.search(r"  ok +(.+?)(  |$)", line)[1] for line in text.splitlines() if "  ok  " in line]
    if width == 120:
        assert written == ["1.6 MB (620 KB sent)"] * 2
    else:  # the cell wraps inside its column, at a space
        assert written == ["1.6 MB (620 KB"] * 2 and text.count(" sent)") == 2


def test_releases_fit(width):
    rows = [{"micropython": "v1.29.0", "commit": "0123456789abcdef0123", "commit_source": "recorded on first fetch",
             "idf": "v5.5.2", "idf_min": "v5.3.0", "overlay": "overlays/v1.29", "default": True}]
    text = ui.releases_table(rows)
    fits(text, width)
    assert "v5.5.2 (>= v5.3.0)" in text and "overlays/v1.29" in text
    assert ("0123456789ab (first fetch)" in text) == (width == 120)  # at 80 it wraps in its column


def test_flash_final_message_is_two_lines_within_80_columns(capsys):
    """One board flashed: what was written and how long it took, then the profile, the files
    and the reset with its reason, within 80 columns for a first flash and for a re-flash of a
    changed app through the chip's own USB; the baud rate only where link errors lowered it."""
    from mpforge.board.device import Result
    from mpforge.model.fingerprint import Fingerprint

    board = Fingerprint("ESP32-S3", 16 << 20, "quad", 8 << 20, "octal", "24:0a:c4:cb:fc:38")
    first = Result("/dev/ttyUSB0", ok=True, board=board, bytes_written=1600 << 10, bytes_sent=620 << 10,
                   total_bytes=1600 << 10, baud=921600, seconds=12.3, reset="reset (RTS)", was_reset=True,
                   regions=["bootloader 0x0: written", "partition-table 0x8000: written", "app 0x10000: written"],
                   profile="esp32s3-n16r8")
    again = Result("/dev/ttyACM0", ok=True, board=board, bytes_written=148 << 10, bytes_sent=61 << 10,
                   total_bytes=1600 << 10, baud=921600, seconds=2.4, was_reset=True,
                   reset="reset: watchdog (the chip's USB-Serial/JTAG)",
                   regions=["bootloader 0x0: unchanged", "partition-table 0x8000: unchanged",
                            "app 0x10000: 37 sectors rewritten"], profile="esp32s3-n16r8",
                   files="kept: the filesystem at 0x200000+14MB stays where the new firmware looks for it")
    slower = Result("/dev/ttyUSB0", ok=True, board=board, bytes_written=1600 << 10, bytes_sent=620 << 10,
                    total_bytes=1600 << 10, baud=460800, baud_fell_back=True, seconds=24.1,
                    reset="reset (RTS)", was_reset=True, profile="esp32s3-n16r8")
    said = []
    for result in (first, again, slower):
        ui.board_results("flash", [result])
        said.append(capsys.readouterr().out.splitlines())
    assert said == [
        ["flash: /dev/ttyUSB0: 1.6 MB written (620 KB sent) in 12.3 s",
         "flash:   esp32s3-n16r8; reset (RTS)"],
        ["flash: /dev/ttyACM0: 148 KB of 1.6 MB written (61 KB sent) in 2.4 s",
         "flash:   esp32s3-n16r8; files kept; reset: watchdog (the chip's USB-Serial/JTAG)"],
        ["flash: /dev/ttyUSB0: 1.6 MB written (620 KB sent) in 24.1 s at 460800 baud (slower: link errors)",
         "flash:   esp32s3-n16r8; reset (RTS)"]]
    assert max(len(line) for lines in said[:2] for line in lines) <= 80
