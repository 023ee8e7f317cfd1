"""verify: the checks, and the real `invoke verify` against real peers.

The peers (tests/harness/repl_peer.py) are real MicroPython (the WebAssembly
port under node) simulating a board's esp/esp32/machine/os/sys figures, a
PTY printing an ESP32-S3 ROM boot loop, and a PTY where nothing answers.
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys

import pytest
import serial

from conftest import drop_file_override, one_line_error
from harness.repl_peer import BOOT_LOOP_TEXT, MB, repl_peers, rom_peer  # noqa: F401
from mpforge.model import profiles
from mpforge.board import checks as board_checks, repl
from mpforge.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REF = profiles.load("esp32s3-n16r8")
N4 = profiles.load("esp32s3-n4")

# What the probe prints on the reference board running mpforge's v1.28.0 build.
REFERENCE_PROBE = {
    "machine": "ESP32S3 microcontroller with 16MB of Flash & Octal-SPIRAM with ESP32S3",
    "version": "1.28.0",
    "uname_version": "v1.28.0 on 2026-01-01",
    "build": "ESP32_GENERIC_S3-FLASH_16M_SPIRAM_OCT",
    "flash_size": 16 * MB,
    "gc_free": 8_100_000,
    "psram_heap": 8 * MB - 2048,
    "psram_free": 8 * MB - 100_000,
    "psram_source": "idf_heap_info",
    "fs_size": 14 * MB,
    "fs_free": 14 * MB - 32768,
    "freq": 240_000_000,
    "errors": {},
}
# Stock v1.28.0 ESP32_GENERIC_S3-SPIRAM_OCT on the same board.
STOCK_PROBE = dict(REFERENCE_PROBE, machine="Generic ESP32S3 module with Octal-SPIRAM with ESP32S3",
                   build="ESP32_GENERIC_S3-SPIRAM_OCT")


def by_name(checks):
    return {c.name: c for c in checks}


def results(checks):
    return {c.name: c.passed for c in checks}


# ---- the checks (pure) ---------------------------------------------------------------


def test_reference_probe_passes_every_check():
    checks = board_checks.run_checks(REFERENCE_PROBE, REF, "v1.28.0")
    assert [c.name for c in checks] == ["board name", "release", "build id", "flash size",
                                        "PSRAM heap", "filesystem", "CPU frequency"]
    assert all(c.passed is True for c in checks), board_checks.table(checks)
    assert board_checks.expected_machine(REF) == REFERENCE_PROBE["machine"]
    assert board_checks.expected_build(REF) == REFERENCE_PROBE["build"]


def test_stock_image_fails_on_identity_although_flash_says_16mb():
    checks = by_name(board_checks.run_checks(STOCK_PROBE, REF, "v1.28.0"))
    assert checks["board name"].passed is False
    assert checks["build id"].passed is False
    # On v1.26+ a stock image reports the physical 16 MB too: flash proves nothing.
    assert checks["flash size"].passed is True
    assert "ESP32_GENERIC_S3-SPIRAM_OCT" in checks["build id"].problem


def test_build_id_only_checked_from_v1_25():
    old = dict(REFERENCE_PROBE, version="1.24.1", uname_version="v1.24.1 on 2024-11-29", build=None)
    checks = by_name(board_checks.run_checks(old, REF, "v1.24.1"))
    assert checks["build id"].passed is None
    assert checks["release"].passed is True
    # From v1.25.0 a missing _build is a failure (not the firmware mpforge built).
    new = dict(REFERENCE_PROBE, version="1.25.0", uname_version="v1.25.0 on 2025-04-15", build=None)
    assert by_name(board_checks.run_checks(new, REF, "v1.25.0"))["build id"].passed is False
    # Before v1.25 the board name still tells a stock image apart.
    stock_old = dict(old, machine=STOCK_PROBE["machine"])
    assert results(board_checks.run_checks(stock_old, REF, "v1.24.1"))["board name"] is False


def test_other_release_fails():
    checks = by_name(board_checks.run_checks(REFERENCE_PROBE, REF, "v1.27.0"))
    assert checks["release"].passed is False
    assert "1.28.0" in checks["release"].problem


def test_checks_8mb_flash_fails():
    probe = dict(REFERENCE_PROBE, flash_size=8 * MB, fs_size=6 * MB)
    failed = {c.name for c in board_checks.failed(board_checks.run_checks(probe, REF, "v1.28.0"))}
    assert failed == {"flash size", "filesystem"}


def test_no_psram_fails_and_gc_fallback_is_used_without_idf_heap_info():
    none = dict(REFERENCE_PROBE, psram_heap=0, psram_free=0)
    assert by_name(board_checks.run_checks(none, REF, "v1.28.0"))["PSRAM heap"].passed is False
    # Without esp32.idf_heap_info, gc.mem_free() stands in: ~200 KB means no PSRAM.
    small = dict(REFERENCE_PROBE, psram_heap=200_000, psram_source="gc.mem_free",
                 errors={"psram_heap": "ImportError: no module named 'esp32'"})
    check = by_name(board_checks.run_checks(small, REF, "v1.28.0"))["PSRAM heap"]
    assert check.passed is False and "gc.mem_free" in check.found
    big = dict(small, psram_heap=7 * MB)
    assert by_name(board_checks.run_checks(big, REF, "v1.28.0"))["PSRAM heap"].passed is True


def test_psram_not_applicable_without_psram_in_profile():
    probe = dict(REFERENCE_PROBE, machine=board_checks.expected_machine(N4), build=board_checks.expected_build(N4),
                 flash_size=4 * MB, fs_size=2 * MB, psram_heap=0)
    checks = by_name(board_checks.run_checks(probe, N4, "v1.28.0"))
    assert checks["PSRAM heap"].passed is None
    assert not board_checks.failed(checks.values())


def test_missing_module_fails_with_reason():
    probe = dict(REFERENCE_PROBE, flash_size=None, freq=None,
                 errors={"flash_size": "ImportError: no module named 'esp'"})
    checks = by_name(board_checks.run_checks(probe, REF, "v1.28.0"))
    assert checks["flash size"].passed is False
    assert "no module named 'esp'" in checks["flash size"].found
    assert checks["CPU frequency"].passed is False


def test_summary_is_one_line_naming_each_failure():
    checks = board_checks.run_checks(STOCK_PROBE, REF, "v1.28.0")
    line = board_checks.summary(checks, port="/dev/ttyACM0", profile=REF)
    assert "\n" not in line
    assert line.startswith("2 of 7 checks failed on /dev/ttyACM0: board name")
    assert "build id" in line and "invoke flash" in line


def test_parse_probe_output():
    out = b"noise\r\n" + json.dumps(REFERENCE_PROBE).encode() + b"\n"
    assert repl.parse_probe_output(out) == REFERENCE_PROBE
    with pytest.raises(UserError, match="printed no report"):
        repl.parse_probe_output(b"Traceback\r\nSyntaxError\r\n")


def test_probe_reports_missing_modules_as_null():
    # CPython has none of esp, esp32, machine: the probe must still print its JSON line.
    out = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "board_probe.py")],
                         capture_output=True, text=True, check=True, timeout=30).stdout
    probe = json.loads(out.strip().splitlines()[-1])
    assert probe["flash_size"] is None and "esp" in probe["errors"]["flash_size"]
    assert probe["freq"] is None and probe["build"] is None
    # CPython's gc has no mem_free: no figure at all, rather than a wrong one
    assert probe["gc_free"] is None and probe["psram_heap"] is None and probe["psram_source"] is None
    assert "gc_free" in probe["errors"] and "psram_heap" in probe["errors"]
    assert isinstance(probe["fs_size"], int)


def test_permission_denied_says_dialout(monkeypatch):
    # As root (CI containers) a real EACCES cannot be provoked: raise what pyserial raises.
    def refuse(url, *args, **kwargs):
        raise serial.SerialException(
            errno.EACCES, f"could not open port {url}: [Errno 13] Permission denied: '{url}'")

    monkeypatch.setattr(serial, "serial_for_url", refuse)
    with pytest.raises(UserError) as info:
        repl.open_port("/dev/ttyACM0")
    message = str(info.value)
    assert "no permission to open /dev/ttyACM0" in message and "dialout" in message


# ---- the real task against real peers ----------------------------------------------------


def outcomes(stdout: str) -> dict[str, str]:
    """Each check's result from verify's report (ui/tables.py verify_board): the rows of the
    checks that failed or did not apply, and the one line (wrapped) naming those that passed."""
    found, lines = {}, stdout.splitlines()
    for i, line in enumerate(lines):
        row = re.match(r"  (FAIL|n/a)  +(\S.*?)(  |$)", line)
        if row:
            found[row[2]] = row[1]
        passed = re.match(r"  \d+ (more )?checks? passed: (.*)", line)
        if passed:
            text = passed[2]
            for more in lines[i + 1:]:
                if not more.startswith("  ") or re.match(r"  (FAIL|n/a)  ", more):
                    break
                text += " " + more.strip()
            found.update((name, "pass") for name in text.split(", "))
    return found


@pytest.mark.parametrize("transport", ["pty", "tcp"])
def test_reference_board_passes(invoke_run, repl_peers, transport):
    peer = repl_peers("reference", transport)
    result = invoke_run("verify", "--port", peer.port, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr + peer.stderr()
    assert list(outcomes(result.stdout).values()) == ["pass"] * 10  # 7 + the partition rows
    assert "all 10 checks passed" in result.stdout


def test_json_output_parses_and_matches_table(invoke_run, repl_peers):
    peer = repl_peers("reference")
    text = invoke_run("verify", "--port", peer.port, timeout=60)
    as_json = invoke_run("verify", "--port", peer.port, "--json", timeout=60)
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["ok"] is True and report["port"] == peer.port
    assert report["profile"] == "esp32s3-n16r8" and report["micropython"] == "v1.28.0"
    assert {c["check"]: c["result"] for c in report["checks"]} == outcomes(text.stdout)
    assert report["probe"]["flash_size"] == 16 * MB


def test_json_on_failure_still_prints_report(invoke_run, repl_peers):
    peer = repl_peers("flash8mb")
    result = invoke_run("verify", "--port", peer.port, "--json", timeout=60)
    line = one_line_error(result)
    report = json.loads(result.stdout)
    assert report["ok"] is False
    failed = {c["check"] for c in report["checks"] if c["pass"] is False}
    assert failed == {"flash size", "filesystem"}
    assert "flash is 8 MB, not 16 MB" in line


def test_stock_firmware_fails(invoke_run, repl_peers):
    peer = repl_peers("stock")  # the profile named: with none, a stock image has none to check against
    result = invoke_run("verify", "--port", peer.port, "--profile", "esp32s3-n16r8", timeout=60)
    line = one_line_error(result)
    assert "2 of 10 checks failed" in line
    assert "board name is 'Generic ESP32S3 module with Octal-SPIRAM with ESP32S3'" in line
    assert "build id is ESP32_GENERIC_S3-SPIRAM_OCT" in line
    assert "not the firmware built for esp32s3-n16r8" in line
    rows = outcomes(result.stdout)
    assert rows["flash size"] == "pass"  # 16 MB on a stock image too


@pytest.mark.parametrize("columns", [80, 120])
def test_report_fits_the_terminal_and_names_what_failed(invoke_run, repl_peers, columns):
    peer = repl_peers("stock")
    # a stock image names no profile's board: the profile is named, as for test_stock_firmware_fails
    result = invoke_run("verify", "--port", peer.port, "--profile", "esp32s3-n16r8",
                        env={"COLUMNS": str(columns)}, timeout=60)
    one_line_error(result)
    wide = [line for line in result.stdout.splitlines() if len(line) > columns]
    assert wide == [], result.stdout
    text = " ".join(result.stdout.split())
    assert f"{peer.port} esp32s3-n16r8 FAIL: 2 of 10 checks failed" in text, result.stdout
    assert "Generic ESP32S3 module with Octal-SPIRAM with ESP32S3" in text  # found
    assert "ESP32S3 microcontroller with 16MB of Flash & Octal-SPIRAM with ESP32S3" in text  # wanted
    assert "ESP32_GENERIC_S3-FLASH_16M_SPIRAM_OCT" in result.stdout  # one word, never split
    assert outcomes(result.stdout) == {"board name": "FAIL", "build id": "FAIL", **dict.fromkeys(
        ["release", "flash size", "PSRAM heap", "filesystem", "CPU frequency", "running partition",
         "app partitions", "fs partition"], "pass")}


def test_8mb_flash_fails(invoke_run, repl_peers):
    peer = repl_peers("flash8mb")
    line = one_line_error(invoke_run("verify", "--port", peer.port, timeout=60))
    assert "flash size: flash is 8 MB, not 16 MB" in line


def test_no_psram_fails(invoke_run, repl_peers):
    peer = repl_peers("nopsram")
    line = one_line_error(invoke_run("verify", "--port", peer.port, timeout=60))
    assert "1 of 10 checks failed" in line and "PSRAM heap: no PSRAM in the heap" in line


def test_release_before_build_id(invoke_run, repl_peers):
    peer = repl_peers("v1.24.1")
    result = invoke_run("verify", "--port", peer.port, "--micropython", "v1.24.1", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = outcomes(result.stdout)
    assert rows["build id"] == "n/a" and rows["release"] == "pass"
    # The same board checked against v1.28.0 is the wrong release.
    line = one_line_error(invoke_run("verify", "--port", peer.port, timeout=60))
    assert "release: it runs MicroPython 1.24.1, not 1.28.0" in line


def test_running_program_is_interrupted(invoke_run, repl_peers):
    peer = repl_peers("running")  # prints "sensor: 21.5 C" every 50 ms until Ctrl-C
    result = invoke_run("verify", "--port", peer.port, "--json", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and "sensor" not in json.dumps(report)


def test_psram_from_gc_without_esp32_module(invoke_run, repl_peers):
    peer = repl_peers("noesp32")
    result = invoke_run("verify", "--port", peer.port, "--json", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    psram = next(c for c in report["checks"] if c["check"] == "PSRAM heap")
    assert psram["found"] == "7 MB (gc.mem_free)" and psram["pass"] is True
    assert "esp32" in report["probe"]["errors"]["psram_heap"]


def test_dry_run_touches_no_port(invoke_run):
    result = invoke_run("--dry", "verify", "--port", "/dev/ttyMPFORGE-nothing", timeout=60)
    assert result.returncode == 0, result.stderr
    assert "verify: would run: scripts/board_probe.py" in result.stdout


def test_unknown_url_scheme_fails(invoke_run):
    line = one_line_error(invoke_run("verify", "--port", "bogus://board", timeout=60))
    assert "'bogus://board' is not a serial port or pyserial URL" in line


def test_busy_port_fails(invoke_run, repl_peers):
    peer = repl_peers("reference")
    holder = serial.Serial(peer.port, exclusive=True)
    try:
        line = one_line_error(invoke_run("verify", "--port", peer.port, timeout=60))
    finally:
        holder.close()
    assert line.startswith(f"error: verify: port {peer.port} is busy (held by ")
    assert "close that program (serial monitor, mpremote, IDE) and run again (log: " in line


def test_missing_port_fails(invoke_run):
    line = one_line_error(invoke_run("verify", "--port", "/dev/ttyMPFORGE-nothing", timeout=60))
    assert "port /dev/ttyMPFORGE-nothing not found; is the board plugged in?" in line


def test_no_port_given_fails(invoke_run):
    # No --port, no setting: verify looks for the one ESP32-S3 on USB (none here).
    line = one_line_error(invoke_run("verify", timeout=60))
    assert "pass --port" in line


def test_socket_with_nothing_listening_fails(invoke_run):
    import socket

    with socket.socket() as s:  # a free port, closed again: nothing listens there
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    line = one_line_error(invoke_run("verify", "--port", f"socket://127.0.0.1:{free}", timeout=60))
    assert "connection refused" in line


def test_permission_denied_fails(invoke_run, rom_peer):
    peer = rom_peer(text=None)
    os.chmod(peer.port, 0)
    as_root = os.access(peer.port, os.R_OK)  # root opens any device: drop that right in the child
    if as_root and not sys.platform.startswith("linux"):
        pytest.skip("this user opens any file and capabilities cannot be dropped here")
    try:
        result = invoke_run("verify", "--port", peer.port, timeout=60,
                            preexec_fn=drop_file_override if as_root else None)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot run without root's file access here: {exc}")
    line = one_line_error(result)
    assert "no permission to open" in line and "dialout group" in line


def test_boot_loop_fails(invoke_run, rom_peer):
    peer = rom_peer(BOOT_LOOP_TEXT)
    line = one_line_error(invoke_run("verify", "--port", peer.port, timeout=60))
    assert f"the board on {peer.port} is in a boot loop" in line
    assert "invalid header: 0xffffffff" in line and "invoke flash" in line
    assert b"\x03" in peer.received and b"\x01" in peer.received  # it did try the REPL


@pytest.fixture
def short_timeout(tmp_path):
    """`invoke -f` config with mpforge.verify.timeout = 1 s, for the no-answer cases."""
    path = tmp_path / "verify.yaml"
    path.write_text("mpforge:\n  verify:\n    timeout: 1\n")
    return str(path)


def test_no_repl_fails(invoke_run, rom_peer, short_timeout):
    peer = rom_peer(text=None)  # a port where nothing answers
    line = one_line_error(invoke_run("-f", short_timeout, "verify", "--port", peer.port, timeout=60))
    assert f"no answer from {peer.port} within 1 s: no MicroPython REPL there" in line


def test_not_a_repl_fails(invoke_run, rom_peer, short_timeout):
    peer = rom_peer(text=b"$GPGGA,123519,4807.038,N,01131.000,E*47\r\n", period=0.2)
    line = one_line_error(invoke_run("-f", short_timeout, "verify", "--port", peer.port, timeout=60))
    assert "answered, but not as a MicroPython REPL" in line and "GPGGA" in line


def test_frozen_modules_import_on_the_board(invoke_run, repl_peers):
    peer = repl_peers("frozen")  # app and sensors import like frozen modules
    result = invoke_run("verify", "--port", peer.port, "--frozen-module", "app", "--frozen-module", "sensors",
                        timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = outcomes(result.stdout)
    assert rows["frozen app"] == "pass" and rows["frozen sensors"] == "pass"
    assert "all 12 checks passed" in result.stdout


def test_frozen_module_missing_or_from_the_filesystem_fails(invoke_run, repl_peers):
    peer = repl_peers("frozen")
    line = one_line_error(invoke_run("verify", "--port", peer.port, "--frozen-module", "nosuch", timeout=60))
    assert "frozen nosuch" in line and "nosuch does not import" in line
    # A module the board loads from a file is not the frozen one (the simulated esp lives in /sim).
    line = one_line_error(invoke_run("verify", "--port", peer.port, "--frozen-module", "_sim_esp", timeout=60))
    assert "comes from the board's filesystem" in line


# ---- several boards: --port repeats ---------------------------------------------------


def _log_span(path):
    """(began, finished) wall times of the work on a port, from its log."""
    from datetime import datetime

    lines = path.read_text().splitlines()
    began = next(line for line in lines if " began " in line).split(" began ")[1]
    finished = next(line for line in lines if " finished " in line).split(" finished ")[1]
    return datetime.fromisoformat(began), datetime.fromisoformat(finished)


def test_two_boards_in_parallel_one_failing(invoke_run, repl_peers, tmp_path):
    from mpforge.board import portlog

    good, bad = repl_peers("reference"), repl_peers("flash8mb")
    result = invoke_run("verify", "--port", good.port, "-P", bad.port, timeout=90)
    line = one_line_error(result)
    assert line == "error: verify: 1 of 2 boards failed (see above)"
    # each board under its own heading: port, profile, PASS or FAIL
    heads = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith(("/", "socket"))}
    total = int(re.search(r"PASS: all (\d+) checks passed", heads[good.port])[1])
    assert total >= 7 and "esp32s3-n16r8" in heads[good.port], result.stdout
    assert f"FAIL: 2 of {total} checks failed" in heads[bad.port]  # flash size and filesystem
    bad_part = result.stdout[result.stdout.index(heads[bad.port]):]
    assert re.search(r"FAIL  flash size  +16 MB  +8 MB", bad_part), result.stdout
    bad_log = portlog.path(tmp_path / "work", "verify", bad.port)
    assert f"{bad.port}: verify: 2 of {total} checks failed" in result.stderr and f"(log: {bad_log})" in result.stderr
    # Each log holds that board's REPL exchange: the probe sent in raw-paste mode (the
    # board says R^A), its JSON report received after the board's end-of-code ^D.
    for peer in (good, bad):
        log = portlog.path(tmp_path / "work", "verify", peer.port).read_text()
        assert "> ^EA^A" in log and "< R^A" in log
        assert "> MPFORGE_IMPORTS = []" in log and '< ^D{"' in log
    assert "flash_size" in bad_log.read_text() and "FAIL" in bad_log.read_text()
    # In parallel: each board's session began before the other's ended.
    (a0, a1), (b0, b1) = (_log_span(portlog.path(tmp_path / "work", "verify", p.port)) for p in (good, bad))
    assert a0 < b1 and b0 < a1


def test_two_boards_json_is_one_document(invoke_run, repl_peers):
    good, bad = repl_peers("reference"), repl_peers("stock")
    result = invoke_run("verify", "--port", good.port, "--port", bad.port, "--json", "-B", "esp32s3-n16r8",
                        timeout=90)
    assert result.returncode != 0
    doc = json.loads(result.stdout)  # stdout holds the document and nothing else
    assert doc["ok"] is False and doc["profile"] == "esp32s3-n16r8"
    assert [b["port"] for b in doc["boards"]] == [good.port, bad.port]
    assert [b["ok"] for b in doc["boards"]] == [True, False]
    assert [b["log"].endswith(".log") for b in doc["boards"]] == [True, True]
    failed = {c["check"] for c in doc["boards"][1]["checks"] if c["pass"] is False}
    assert failed == {"board name", "build id"}


def test_two_boards_passing_exit_zero(invoke_run, repl_peers):
    a, b = repl_peers("reference"), repl_peers("reference", transport="tcp")
    result = invoke_run("verify", "--port", a.port, "--port", b.port, timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verify: all 2 boards run the firmware built for esp32s3-n16r8" in result.stdout


def test_a_board_that_does_not_answer_is_named_with_its_log(invoke_run, repl_peers, rom_peer, short_timeout,
                                                             tmp_path):
    from mpforge.board import portlog

    good, dead = repl_peers("reference"), rom_peer(BOOT_LOOP_TEXT)
    result = invoke_run("-f", short_timeout, "verify", "--port", good.port, "--port", dead.port, "--json",
                        timeout=90)
    doc = json.loads(result.stdout)
    assert [b["ok"] for b in doc["boards"]] == [True, False]
    assert "boot loop" in doc["boards"][1]["error"]
    assert doc["boards"][1]["log"] == str(portlog.path(tmp_path / "work", "verify", dead.port))
    assert "invalid header" in portlog.path(tmp_path / "work", "verify", dead.port).read_text()


def test_verbose_shows_the_repl_exchange(invoke_run, repl_peers):
    peer = repl_peers("reference")
    quiet = invoke_run("verify", "--port", peer.port, timeout=60)
    loud = invoke_run("verify", "--port", peer.port, "-v", timeout=60)
    assert quiet.returncode == 0 and loud.returncode == 0, loud.stderr
    assert "MPFORGE_IMPORTS" not in quiet.stdout
    assert f"{peer.port}: > MPFORGE_IMPORTS = []" in loud.stdout and f"{peer.port}: < raw REPL" in loud.stdout


def test_board_without_raw_paste(invoke_run, repl_peers, tmp_path):
    """A firmware built without raw-paste mode (the peer drops the request, as such a board
    does): verify falls back to the plain raw REPL, sends the probe in pieces and still passes."""
    from mpforge.board import portlog

    peer = repl_peers("noraw")
    result = invoke_run("verify", "--port", peer.port, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    log = portlog.path(tmp_path / "work", "verify", peer.port).read_text()
    assert "> ^EA^A" in log and "< R^A" not in log  # asked, refused
    assert '< OK{"' in log.replace("^D", "")  # the plain raw REPL's OK, then the report
