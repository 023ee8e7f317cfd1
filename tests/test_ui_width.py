"""Human output at 80 and at 120 columns: no line wider than the terminal, and the
facts a user needs still there (each step's reason, each profile and its variant). The figures are rendered by the ui code the tasks use, with
rich at a fixed width (COLUMNS, as a terminal of that width sets it)."""

from __future__ import annotations

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
