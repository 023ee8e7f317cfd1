"""The reset after a flash, chosen from the port's USB path when the `after` setting is
auto (docs/flashing.md, "The reset after a flash"); an `after` the user set always wins.

Ports are pyserial's own port records (ListPortInfo with the USB ids a board shows);
USB enumeration cannot exist here, so the records are made, not read from the OS. The
flash itself is real: esptool against the ROM peer on a /dev/pts path.
"""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import RELEASE, ROOT, port_record
from harness.esp_mock import MockBoard
from harness.images import write_fake_build
from mpforge import ui
from mpforge.board import fleet, transport
from mpforge.model import settings as settings_mod

PROFILE = "esp32s3-n16r8"


@pytest.mark.parametrize("vid, pid, mode, words", [
    (0x303A, 0x1001, "watchdog-reset", "the chip's USB-Serial/JTAG"),
    (0x303A, 0x4001, "watchdog-reset", "the chip's USB (MicroPython's USB CDC)"),
    (0x10C4, 0xEA60, "hard-reset", "CP210x USB-UART bridge"),
    (0x1A86, 0x55D4, "hard-reset", "CH9102 USB-UART bridge"),
    (0x2341, 0x0043, "hard-reset", "USB path is unknown"),
    (None, None, "hard-reset", "USB path is unknown"),
], ids=["usb-serial-jtag", "usb-otg-cdc", "cp210x", "ch9102", "unknown-usb", "not-usb"])
def test_auto_reset_follows_the_usb_path(vid, pid, mode, words):
    port = "/dev/ttyTEST0"
    link = fleet.link_for(transport.Link(after="auto"), port, "esp32s3", [port_record(port, vid, pid)])
    assert (link.after, link.after_auto) == (mode, True)
    assert words in link.after_why


def test_a_url_has_no_usb_path_and_keeps_the_hard_reset():
    port = "socket://127.0.0.1:1"
    link = fleet.link_for(transport.Link(after="auto"), port, None, [port_record(port, 0x303A, 0x1001)])
    assert link.after == "hard-reset" and "unknown" in link.after_why


@pytest.mark.parametrize("after", ["hard-reset", "no-reset"])
def test_an_after_the_user_set_wins_over_the_usb_path(after):
    port = "/dev/ttyACM0"
    s = settings_mod.from_config({"mpforge": {"after": after}})
    link = fleet.link_for(transport.Link.from_settings(s), port, None, [port_record(port, 0x303A, 0x1001)])
    assert (link.after, link.after_auto) == (after, False)
    assert link.after_why == "set by the `after` setting"


def test_auto_is_the_default_and_the_shipped_setting():
    assert settings_mod.from_config({"mpforge": {}}).after == "auto"
    shipped = yaml.safe_load((ROOT / "invoke.yaml").read_text())
    assert settings_mod.from_config(shipped).after == "auto"


def _settings(tmp_path, **extra):
    mp = {"workdir": str(tmp_path / "work"), "before": "no-reset", "connect_attempts": 2,
          "micropython": {"version": RELEASE}, **extra}
    return settings_mod.from_config({"mpforge": mp})


def test_flash_over_the_chips_usb_serial_jtag_resets_by_the_watchdog(tmp_path, capsys):
    s = _settings(tmp_path)
    write_fake_build(settings_mod.job(s, PROFILE, RELEASE).build_dir, app_size=64 * 1024)
    with MockBoard(pty=True) as board:  # a real /dev/pts path; its record says 303A:1001
        results = fleet.flash_boards(s, [board.url], comports=[port_record(board.url, 0x303A, 0x1001)])
        assert board.flash.bytes_written > 0
    [result] = results
    assert result.ok and result.was_reset and result.reset_mode == "watchdog-reset"
    capsys.readouterr()
    ui.board_results("flash", results)
    out = capsys.readouterr().out
    assert "reset: watchdog (the chip's USB-Serial/JTAG)" in out
    assert "not reset" not in out


def test_flash_with_after_set_uses_it_on_the_same_port(tmp_path):
    s = _settings(tmp_path, after="hard-reset")
    write_fake_build(settings_mod.job(s, PROFILE, RELEASE).build_dir, app_size=64 * 1024)
    with MockBoard(pty=True) as board:
        [result] = fleet.flash_boards(s, [board.url], comports=[port_record(board.url, 0x303A, 0x1001)])
    assert result.ok and result.reset_mode == "hard-reset" and not result.reset_auto
    assert result.reset.startswith("not reset: ") and "no reset lines" in result.reset  # a PTY has none


def test_flash_json_carries_the_reset_and_why(invoke_run, tmp_path):
    cfg = tmp_path / "ci.yaml"
    cfg.write_text("mpforge:\n  before: no-reset\n  connect_attempts: 2\n")  # `after`: the default
    s = settings_mod.from_config({"mpforge": {"workdir": str(tmp_path / "work")}})
    write_fake_build(settings_mod.job(s, PROFILE, RELEASE).build_dir, app_size=64 * 1024)
    with MockBoard() as board:
        result = invoke_run("-f", str(cfg), "flash", "--port", board.url, "--json", timeout=120)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    [one] = doc["boards"]
    assert doc["ok"] and one["ok"] and one["port"] == board.url and one["bytes_written"] > 0
    assert one["reset"]["mode"] == "hard-reset" and one["reset"]["auto"] is True
    assert "unknown" in one["reset"]["why"] and one["reset"]["done"] is False
    assert "no reset lines" in one["reset"]["text"]
