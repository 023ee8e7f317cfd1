"""erase / flash / ports against real peers: the real esptool talking to the
esp32-mock-bootloader ROM peer, which runs in this process so the tests read
its flash bytes; the invoke tasks run as subprocesses against its socket:// URL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from serial.tools.list_ports_common import ListPortInfo

from conftest import RELEASE, ROOT, drop_file_override, one_line_error
from harness.esp_mock import MB, BootLoopPeer, MockBoard
from harness.images import change_one_sector, write_fake_build
from mpforge.board import ports
from mpforge.model import settings as settings_mod
from mpforge.errors import UserError

APP_SIZE = 96 * 1024  # small images keep the suite fast; the benchmark uses 1.6 MB
PROFILE = "esp32s3-n16r8"


@pytest.fixture
def cfg(tmp_path):
    """An invoke config for peers without reset lines (CI), failing fast on dead ports."""
    path = tmp_path / "ci.yaml"
    path.write_text("mpforge:\n  before: no-reset\n  after: hard-reset\n  connect_attempts: 2\n")
    return str(path)


@pytest.fixture
def build_dir(tmp_path):
    """Where `invoke flash` looks for the default profile's build in this test's workdir."""
    s = settings_mod.from_config({"mpforge": {"workdir": str(tmp_path / "work")}})
    return settings_mod.job(s, PROFILE, RELEASE).build_dir


@pytest.fixture
def built(build_dir):
    return write_fake_build(build_dir, app_size=APP_SIZE)


@pytest.fixture
def board():
    with MockBoard() as b:
        yield b


@pytest.fixture
def flash(invoke_run, cfg):
    """Run `invoke flash` (or another task with task=...) against ports; return the result."""
    def run(*ports_, task="flash", args=(), **kw):
        argv = ["-f", cfg, task, *[a for p in ports_ for a in ("--port", p)], *args]
        return invoke_run(*argv, timeout=120, **kw)
    return run


def state_of(tmp_path, mac: str) -> dict:
    path = tmp_path / "work" / "state" / "flashed" / mac.replace(":", "-") / "manifest.json"
    return json.loads(path.read_text())


def flash_holds(board: MockBoard, images: dict) -> bool:
    data = board.flash.data
    return (data[0:len(images["bootloader"])] == images["bootloader"]
            and data[0x8000:0x8000 + len(images["partition-table"])] == images["partition-table"]
            and data[0x10000:0x10000 + len(images["app"])] == images["app"])


def blank(board: MockBoard) -> bool:
    return board.flash.bytes_written == 0 and board.flash.data.count(0xFF) == len(board.flash.data)


# ---- flashing ---------------------------------------------------------------------

def test_flash_writes_each_image_at_its_offset_and_remembers_it(flash, board, built, tmp_path):
    result = flash(board.url)
    assert result.returncode == 0, result.stderr
    assert flash_holds(board, built)
    assert board.flash.data[0x10000 + len(built["app"])] == 0xFF  # nothing past the app
    assert board.mac_text in result.stdout
    assert "16MB quad flash, 8MB octal PSRAM" in result.stdout
    # mpforge's lines only: esptool's own chatter is captured
    assert result.stderr == "" and "Compressed" not in result.stdout
    assert all(line.startswith("flash") for line in result.stdout.splitlines())
    state = state_of(tmp_path, board.mac_text)
    assert state["complete"] and set(state["regions"]) == {"0x0", "0x8000", "0x10000"}


def test_summary_counts_bytes_written_and_bytes_sent(flash, board, built):
    """One unit: the bytes written to flash, and in brackets the bytes the link carried for
    them (esptool compresses), as the peer counted both."""
    from mpforge.text import size_text

    result = flash(board.url)
    assert result.returncode == 0, result.stderr
    written, sent = board.flash.bytes_written, board.flash.bytes_received
    assert 0 < sent < written  # compressed on the wire
    summary = next(line for line in result.stdout.splitlines() if line.startswith("flash: ") and " written" in line)
    assert f": {size_text(written)} written ({size_text(sent)} sent) in " in summary, summary
    app = size_text(len(built["app"]))  # the live lines count bytes written too, the link's in brackets
    assert f"app 0x10000 100% {app}/{app} (" in result.stdout, result.stdout


def test_flash_over_a_device_path(flash, built):
    with MockBoard(pty=True) as b:  # /dev/pts/N: opened like a USB serial device
        assert b.url.startswith("/dev/")
        result = flash(b.url)
        assert result.returncode == 0, result.stderr
        assert flash_holds(b, built)


def test_reflash_writes_nothing_and_a_sector_change_rewrites_only_that(flash, board, built,
                                                                       build_dir):
    assert flash(board.url).returncode == 0
    first = board.flash.bytes_written
    assert first >= len(built["app"])

    again = flash(board.url)
    assert again.returncode == 0, again.stderr
    assert board.flash.bytes_written == first  # identical: no data written at all
    assert "unchanged" in again.stdout
    said = [line for line in again.stdout.splitlines() if line.startswith("flash: ")]
    summary = next(line for line in said if " written" in line)
    assert "0 B written (identical)" in summary  # one unit: bytes written to flash
    final = again.stdout[again.stdout.index(summary):].strip().splitlines()
    assert len(final) <= 2, final  # the final message: two lines at most

    changed = change_one_sector(built["app"], 0x8000)
    write_fake_build(build_dir, app=changed)
    third = flash(board.url)
    assert third.returncode == 0, third.stderr
    # the changed sector plus the last one (checksum and SHA-256 at the image's end)
    assert 0 < board.flash.bytes_written - first <= 8 * 1024
    assert board.flash.data[0x10000:0x10000 + len(changed)] == changed


def test_region_already_on_the_chip_is_not_written_without_history(flash, board, built):
    # Same bytes already on the chip, but mpforge has never flashed it: MD5 says skip.
    board.flash.data[0x8000:0x8000 + len(built["partition-table"])] = built["partition-table"]
    result = flash(board.url)
    assert result.returncode == 0, result.stderr
    assert board.flash.bytes_written == len(built["bootloader"]) + len(built["app"])
    assert "partition-table 0x8000 unchanged" in result.stdout  # its live line, kept in the log


def test_flash_erase_first_and_erase_task(flash, board, built, tmp_path):
    board.flash.data[0x300000:0x300010] = b"old filesystem!!"
    result = flash(board.url, args=["--erase"])
    assert result.returncode == 0, result.stderr
    assert board.flash.data[0x300000:0x300010] == b"\xff" * 16
    assert flash_holds(board, built)

    erased = flash(board.url, task="erase")
    assert erased.returncode == 0, erased.stderr
    assert board.flash.data.count(0xFF) == len(board.flash.data)
    assert state_of(tmp_path, board.mac_text)["regions"] == {}

    before = board.flash.bytes_written
    assert flash(board.url).returncode == 0  # the chip is blank: everything again
    assert board.flash.bytes_written - before == sum(len(v) for k, v in built.items()
                                                    if k != "firmware")
    assert flash_holds(board, built)


def test_baud_falls_back_when_the_link_fails(flash, built):
    with MockBoard(max_baud=460800) as b:
        result = flash(b.url)
        assert result.returncode == 0, result.stderr
        assert "retrying at 460800" in result.stdout
        assert "at 460800 baud" in result.stdout
        assert flash_holds(b, built)


def test_interrupted_write_is_detected_and_the_next_flash_completes(invoke_run, cfg, board,
                                                                    built, build_dir, tmp_path):
    argv = ["-f", cfg, "flash", "--port", board.url]
    assert invoke_run(*argv).returncode == 0
    new = write_fake_build(build_dir, app_size=APP_SIZE, seed=7, version="v2.0.0")

    # Pull the plug (kill -9) half way through writing the new app.
    env = dict(os.environ, INVOKE_MPFORGE_WORKDIR=str(tmp_path / "work"), INVOKE_MPFORGE_MICROPYTHON_VERSION=RELEASE)
    proc = subprocess.Popen([sys.executable, "-m", "invoke", *argv], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    killed = threading.Event()
    start = board.flash.bytes_written

    def pull_plug(total):
        if not killed.is_set() and total - start > len(new["app"]) // 2:
            killed.set()
            proc.send_signal(signal.SIGKILL)
            raise ConnectionError("host gone")  # the chip stops mid-write

    board.flash.on_write = pull_plug
    proc.communicate(timeout=120)
    board.flash.on_write = None
    assert killed.is_set() and proc.returncode == -signal.SIGKILL
    assert board.flash.data[0x10000:0x10000 + len(new["app"])] != new["app"]
    assert state_of(tmp_path, board.mac_text)["complete"] is False

    result = invoke_run(*argv)
    assert result.returncode == 0, result.stderr
    assert "did not finish" in result.stdout
    assert flash_holds(board, new)
    assert state_of(tmp_path, board.mac_text)["complete"] is True


def test_two_boards_in_parallel(flash, built):
    # wire=True: writes take UART time, so a serial run could not overlap them
    with MockBoard(wire=True) as a, MockBoard(wire=True) as b:
        assert a.mac != b.mac  # two chips, two histories
        writes = {a.url: [], b.url: []}
        a.flash.on_write = lambda total: writes[a.url].append(time.monotonic())
        b.flash.on_write = lambda total: writes[b.url].append(time.monotonic())
        result = flash(a.url, b.url)
        assert result.returncode == 0, result.stderr
        assert flash_holds(a, built) and flash_holds(b, built)
        (a_first, a_last), (b_first, b_last) = ((w[0], w[-1]) for w in writes.values())
        assert a_first < b_last and b_first < a_last  # both boards were written at once
        table = result.stdout[result.stdout.index("PORT"):]
        assert a.mac_text in table and b.mac_text in table and table.count(" ok ") == 2


def test_one_board_failing_does_not_stop_the_other(flash, built):
    with MockBoard() as good, MockBoard("esp32c3") as bad:
        result = flash(bad.url, good.url)
        assert result.returncode != 0
        assert flash_holds(good, built)
        assert blank(bad)
        assert "FAILED" in result.stdout and " ok " in result.stdout
        assert "1 of 2 boards failed" in one_line_error(result)


# ---- refusals before anything is written ------------------------------------------

@pytest.mark.parametrize("kind, words", [
    (dict(chip="esp32c3"), ["ESP32-C3", "ESP32-S3"]),
    (dict(flash_size=4 * MB), ["flash too small", "4MB quad flash", "needs 16MB quad flash"]),
    (dict(psram=0), ["PSRAM missing", "no PSRAM", "8MB octal PSRAM"]),
    (dict(flash_type="octal"), ["flash type", "16MB octal flash"]),
], ids=["wrong-chip", "small-flash", "no-psram", "octal-flash"])
def test_board_not_matching_the_profile_is_refused(flash, built, kind, words):
    with MockBoard(**kind) as b:  # the profile named: with none, the board's own is chosen
        result = flash(b.url, args=["--profile", PROFILE])
        line = one_line_error(result)
        for word in words:
            assert word in line
        assert blank(b)


@pytest.mark.parametrize("kind", [dict(psram=0), dict(flash_size=4 * MB)], ids=["no-psram", "4MB"])
def test_force_flashes_a_board_that_does_not_match(flash, built, kind):
    with MockBoard(**kind) as b:
        result = flash(b.url, args=["--profile", PROFILE, "--force"])
        assert result.returncode == 0, result.stderr
        assert flash_holds(b, built)


# ---- bad inputs: one line, non-zero exit ------------------------------------------

def test_missing_port(flash, built):
    line = one_line_error(flash("/dev/ttyNOPE42"))
    assert "/dev/ttyNOPE42 not found" in line and "invoke ports" in line


def test_socket_port_with_nothing_listening(flash, built):
    with MockBoard() as b:
        url = b.url
    line = one_line_error(flash(url))
    assert "connection refused" in line


def test_busy_port(flash, built):
    master, slave = os.openpty()
    path = os.ttyname(slave)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import serial, sys, time
            s = serial.Serial({path!r}, exclusive=True)
            print("holding", flush=True)
            sys.stdin.read()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        line = one_line_error(flash(path))
        assert f"port {path} is busy" in line
        assert f"pid {holder.pid}" in line
    finally:
        holder.stdin.close()
        holder.wait(10)
        os.close(master)
        os.close(slave)


def test_permission_denied(invoke_run, cfg, tmp_path):
    port = tmp_path / "ttyUSB0"  # a device node the user may not open (mode 000)
    port.write_bytes(b"")
    os.chmod(port, 0)
    if os.access(port, os.R_OK) and not sys.platform.startswith("linux"):
        pytest.skip("this user opens any file and capabilities cannot be dropped here")
    env = dict(os.environ, INVOKE_MPFORGE_WORKDIR=str(tmp_path / "work"), INVOKE_MPFORGE_MICROPYTHON_VERSION=RELEASE)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "invoke", "-f", cfg, "erase", "--port", str(port)],
            cwd=ROOT, env=env, text=True, capture_output=True, timeout=60,
            preexec_fn=drop_file_override if os.access(port, os.R_OK) else None)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot run without root's file access here: {exc}")
    line = one_line_error(result)
    assert f"no permission to open {port}" in line and "dialout" in line


def test_not_a_board(flash, built):
    master, slave = os.openpty()  # a serial device with nothing answering behind it
    try:
        line = one_line_error(flash(os.ttyname(slave)))
        assert "no ESP32 bootloader answered" in line
    finally:
        os.close(master)
        os.close(slave)


def test_board_in_a_boot_loop(flash, built):
    with BootLoopPeer() as peer:
        line = one_line_error(flash(peer.url))
        assert "boot loop" in line and "invalid header: 0xffffffff" in line


def test_no_firmware_built_yet(flash, board):
    line = one_line_error(flash(board.url))
    assert "no firmware built in" in line
    assert f"invoke build --profile {PROFILE} --micropython {RELEASE}`" in line
    assert blank(board)


@pytest.mark.parametrize("how", ["flasher_args", "image_header"])
def test_image_for_another_chip(flash, board, build_dir, how):
    write_fake_build(build_dir, app_size=APP_SIZE, chip="esp32c3")
    if how == "image_header":  # flasher_args.json says esp32s3, the images say otherwise
        args = json.loads((build_dir / "flasher_args.json").read_text())
        args["extra_esptool_args"]["chip"] = "esp32s3"
        (build_dir / "flasher_args.json").write_text(json.dumps(args))
    line = one_line_error(flash(board.url))
    assert "ESP32-C3" in line and "ESP32-S3" in line
    assert blank(board)


def test_dry_run_changes_nothing(flash, board, built, cfg, invoke_run):
    result = invoke_run("-f", cfg, "--dry", "flash", "--port", board.url)
    assert result.returncode == 0, result.stderr
    assert "would run" in result.stdout and board.url in result.stdout
    assert board.sessions == 0 and blank(board)


# ---- ports ------------------------------------------------------------------------

def _port(device: str, vid: int | None, pid: int | None, description: str = "test") -> ListPortInfo:
    info = ListPortInfo(device, skip_link_detection=True)
    info.vid, info.pid, info.description = vid, pid, description
    return info


def test_port_discovery():
    found = [_port("/dev/ttyACM0", 0x303A, 0x1001), _port("/dev/ttyS0", None, None),
             _port("/dev/ttyUSB0", 0x10C4, 0xEA60), _port("/dev/ttyACM9", 0x2341, 0x0043)]
    assert [c.device for c in ports.candidates(found)] == ["/dev/ttyACM0", "/dev/ttyUSB0"]
    assert ports.choose([], "", found[:2]) == ["/dev/ttyACM0"]
    assert ports.choose(["a", "b", "a"], "", found) == ["a", "b"]
    assert ports.choose([], "socket://h:1", found) == ["socket://h:1"]
    with pytest.raises(UserError, match="2 possible boards found .*ttyACM0, /dev/ttyUSB0.*--port"):
        ports.choose([], "", found)
    with pytest.raises(UserError, match="no ESP32-S3 board found"):
        ports.choose([], "", found[1:2])


def test_flash_without_port_says_which_boards_it_sees(flash, built):
    """The task sees this machine's USB ports: the outcome that is right for them, exactly."""
    seen = ports.candidates()
    if len(seen) == 1:
        pytest.skip(f"a real board is connected ({seen[0].device}): flash would write to it")
    line = one_line_error(flash())
    if seen:
        assert f"{len(seen)} possible boards found ({', '.join(c.device for c in seen)})" in line
    else:
        assert "no ESP32-S3 board found on USB" in line and "pass --port" in line


def test_ports_task_lists_what_this_machine_has(invoke_run):
    result = invoke_run("ports")
    assert result.returncode == 0, result.stderr
    seen = ports.candidates()
    if seen:
        assert [line.split()[:2] for line in result.stdout.splitlines()] == [
            [c.device, f"{c.vid:04X}:{c.pid:04X}"] for c in seen]
    else:
        assert result.stdout.startswith("ports: no ESP32-S3 boards found")


def test_ports_lists_boards_by_their_usb_ids(monkeypatch, capsys):
    """USB enumeration cannot exist here: the OS's list of ports is simulated (pyserial's type)."""
    from mpforge import ui

    monkeypatch.setattr(ports.list_ports, "comports", lambda: [])
    ui.port_list(ports.candidates())
    assert capsys.readouterr().out.startswith("ports: no ESP32-S3 boards found")
    monkeypatch.setattr(ports.list_ports, "comports", lambda: [_port("/dev/ttyACM0", 0x303A, 0x1001),
                                                              _port("/dev/ttyS0", None, None)])
    ui.port_list(ports.candidates())
    assert capsys.readouterr().out.splitlines() == [
        "/dev/ttyACM0  303A:1001  ESP32-S3 USB-Serial/JTAG  (test)"]
    long = "CP2102N USB to UART Bridge Controller - CP2102N USB to UART Bridge Controller"
    monkeypatch.setattr(ports.list_ports, "comports", lambda: [_port("/dev/ttyUSB0", 0x10C4, 0xEA60, long)])
    monkeypatch.setenv("COLUMNS", "80")
    ui.port_list(ports.candidates())
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) > 1 and all(len(line) <= 80 for line in lines), lines  # wrapped in its column
    assert lines[0].startswith("/dev/ttyUSB0  10C4:EA60  ") and " ".join(" ".join(lines).split()).endswith(
        long + ")")


# ---- logs and --verbose -------------------------------------------------------------

def test_esptool_output_is_logged_per_port_and_named_on_failure(flash, built, tmp_path):
    from mpforge.board import portlog

    with MockBoard() as good, MockBoard("esp32c3") as bad:
        result = flash(good.url, bad.url)
        good_log = portlog.path(tmp_path / "work", "flash", good.url)
        bad_log = portlog.path(tmp_path / "work", "flash", bad.url)
        assert good_log.parent == tmp_path / "work" / "logs" and good_log != bad_log
        # esptool's own words (never on the terminal without --verbose) are in the log
        assert "Compressed" not in result.stdout
        assert "Compressed" in good_log.read_text() and "Hash of data verified" in good_log.read_text()
        assert "ESP32-C3" in bad_log.read_text()
        assert f"{bad.url}: " in result.stderr and f"(log: {bad_log})" in result.stderr


def test_verbose_shows_esptool_output_live(flash, built, board):
    result = flash(board.url, args=("--verbose",))
    assert result.returncode == 0, result.stderr
    assert f"{board.url}: Compressed" in result.stdout


def test_single_board_failure_names_its_log(flash, built, tmp_path):
    from mpforge.board import portlog

    with MockBoard("esp32c3") as bad:
        line = one_line_error(flash(bad.url))
    assert line.endswith(f"(log: {portlog.path(tmp_path / 'work', 'flash', bad.url)})")


def test_log_names_stay_inside_logs():
    from pathlib import Path

    from mpforge.board import portlog

    for port in ("../../etc/passwd", "socket://127.0.0.1:5555", "/dev/ttyACM0", "..", ""):
        path = portlog.path(Path("/w"), "flash", port)
        assert path.parent == Path("/w/logs") and path.name.startswith("flash-"), path
        assert path.stem not in ("flash-", "flash-..") and not path.stem.startswith("flash-.")
