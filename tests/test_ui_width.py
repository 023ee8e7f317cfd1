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
