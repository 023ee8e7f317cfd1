"""`invoke detect` against the ROM-bootloader peer (tests/harness/esp_mock.py: the real
esptool talks to esp32-mock-bootloader with the eFuse and flash-id values each test sets),
the USB path from pyserial's own port records, and `--new-profile`: the written profile
loads, passes `invoke config` and builds under the simulated IDF (tests/test_pipeline.py).

Tests write only into tmp_path; the last test checks that boards/ is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from conftest import ROOT, one_line_error, port_record
from harness.esp_mock import MB, MockBoard
from mpforge.board import detect, fleet, newprofile, ports
from mpforge.errors import UserError
from mpforge.model import chips, fit, profiles
from mpforge.model import settings as settings_mod
from mpforge.ui import detect as ui_detect


def _boards_tree() -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((ROOT / "boards").iterdir())}


def _git_status() -> str:
    import subprocess

    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout


BOARDS_BEFORE = _boards_tree()
STATUS_BEFORE = _git_status()
S3 = chips.get("esp32s3")


@pytest.fixture
def s(tmp_path):
    """Settings for peers without reset lines (CI), failing fast on a dead port."""
    return settings_mod.from_config({"mpforge": {"workdir": str(tmp_path / "work"), "before": "no-reset",
                                                 "after": "no-reset", "connect_attempts": 2}})


def detect_all(s, *mocks) -> list[detect.Board]:
    """The real task's library call: every mock board read in parallel, against boards/."""
    found = fleet.detect_boards(s, [m.url for m in mocks])
    assert [b.port for b in found] == [m.url for m in mocks]
    assert all(b.ok for b in found), [b.error for b in found]
    return found


def row(board, what: str, columns: int = 200) -> str:
    """One fact's value as the report shows it (at a width where nothing wraps)."""
    text = ui_detect.board_text(board, columns=columns)
    m = re.search(rf"^  {re.escape(what)}\s+(.*)$", text, re.M)
    assert m, text
    return m.group(1)


# ---- the facts, read from the peer's eFuses and flash id ------------------------------------

def test_every_psram_efuse_value_of_the_registry_and_one_it_does_not_know(s):
    values = sorted(S3.psram_efuse) + [5]
    assert values[:-1] == [0, 1, 2, 3, 4]  # what the registry holds today
    mocks = [MockBoard(psram_efuse=v) for v in values]
    try:
        found = detect_all(s, *mocks)
    finally:
        for m in mocks:
            m.close()
    for value, board in zip(values, found):
        assert board.psram_efuse == value
        shown = row(board, "PSRAM")
        if value in S3.psram_efuse:
            size, mode = S3.psram_efuse[value]
            assert (board.psram_size, board.psram_mode, board.psram_known) == (size, mode, True)
            if size:
                assert shown.startswith(f"{size // MB} MB {mode} in the package (PSRAM eFuse {value}")
            else:
                assert shown.startswith("none in the package (PSRAM eFuse 0); a separate PSRAM chip does not show")
        else:  # 5 names no size: said so, nothing assumed, nothing fits
            assert board.psram_known is False
            assert shown.startswith("not known: PSRAM eFuse value 5 is no size")
            assert board.as_dict()["psram"]["size"] is None and board.as_dict()["psram"]["mode"] is None
            assert board.fitting == []
            assert "PSRAM eFuse value 5 is not one mpforge knows" in board.fits[0].differences[-1]
            assert "no PSRAM" not in " ".join(board.fits[0].differences)  # not taken as none
    # 16MB quad flash with 8MB octal PSRAM (eFuse 1) is the reference board
    assert [f.profile.name for f in found[1].fitting if not f.chosen_layout] == ["esp32s3-n16r8"]


@pytest.mark.parametrize("flash,ftype,psram,profile", [
    (4 * MB, "quad", 0, "esp32s3-n4"),
    (8 * MB, "quad", 2 * MB, "esp32s3-n8r2"),
    (8 * MB, "quad", 8 * MB, "esp32s3-n8r8"),
    (16 * MB, "octal", 8 * MB, "esp32s3-n16r8v"),
    (32 * MB, "octal", 8 * MB, "esp32s3-n32r8v"),
])
def test_flash_size_and_type_read_and_the_one_profile_that_fits(s, flash, ftype, psram, profile):
    with MockBoard(flash_size=flash, flash_type=ftype, psram=psram) as m:
        board, = detect_all(s, m)
    assert (board.flash_size, board.flash_type, board.flash_known) == (flash, ftype, True)
    assert board.flash_capacity_byte == {4: 0x16, 8: 0x17, 16: 0x18, 32: 0x19}[flash // MB]
    assert row(board, "flash").startswith(f"{flash // MB} MB {ftype} (eFuse)")
    assert [f.profile.name for f in board.fitting] == [profile]
    assert row(board, "fits").startswith(f"{profile}: ESP32-S3, {flash // MB}MB {ftype} flash")
    assert row(board, "next") == (f"`invoke build-all --port {m.url}`, then "
                                  f"`invoke flash --port {m.url}` (both choose {profile})")


def test_a_flash_id_esptool_does_not_know_gives_no_size(s):
    with MockBoard(flash_id=0x454020) as m:  # capacity byte 0x45: in no table of esptool's
        board, = detect_all(s, m)
    assert (board.flash_id, board.flash_size, board.flash_known) == (0x454020, 0, False)
    shown = row(board, "flash")
    assert shown.startswith("size not known: esptool does not know capacity byte 45 (JEDEC id 454020)")
    assert " MB" not in shown and "no size is assumed" in shown
    assert board.as_dict()["flash"] == {"jedec_id": "454020", "capacity_byte": 0x45, "known": False,
                                        "size": None, "type": "quad"}
    assert board.fitting == [] and "the board's flash size could not be read" in board.fits[0].differences
    with pytest.raises(UserError, match="flash size of the board on .* could not be read .*capacity byte 45"):
        newprofile.text(board, "mine")


def test_a_chip_that_is_not_ours(s):
    with MockBoard(chip="esp32c3") as m:
        board, = detect_all(s, m)
    assert (board.chip, board.chip_key, board.psram_efuse) == ("ESP32-C3", None, None)
    assert board.description.startswith("ESP32-C3")
    assert row(board, "chip").endswith("; not a chip mpforge builds for")
    assert row(board, "PSRAM").startswith("not read: mpforge does not know how this chip's eFuses show PSRAM")
    assert row(board, "fits") == "no profile: mpforge's profiles are for other chips"
    assert row(board, "next") == "none: mpforge builds no firmware for an ESP32-C3"
    with pytest.raises(UserError, match="is an ESP32-C3; mpforge builds for ESP32-S3 only"):
        newprofile.text(board, "mine")
    with pytest.raises(UserError, match="is an ESP32-C3; mpforge's profiles are for ESP32-S3 only"):
        fit.choose(board.fingerprint(), [f.profile for f in board.fits], m.url)


def test_two_boards_in_parallel_each_with_its_own_profile(s):
    with MockBoard(flash_size=8 * MB, psram=2 * MB) as a, MockBoard(flash_size=32 * MB, flash_type="octal") as b:
        one, two = detect_all(s, a, b)
    assert one.mac != two.mac
    assert [f.profile.name for f in one.fitting] == ["esp32s3-n8r2"]
    assert [f.profile.name for f in two.fitting] == ["esp32s3-n32r8v"]
    assert (s.workdir / "logs").is_dir()  # each port's log, as for flash


def test_an_ambiguous_match_names_both_profiles(s, tmp_path):
    """Two real profile files with the same hardware and the port's own layout: both fit, none is chosen."""
    good = (ROOT / "boards" / "esp32s3-n16r8.toml").read_text()
    (tmp_path / "alpha.toml").write_text(good.replace("DevKitC-1-N16R8", "Alpha"))
    (tmp_path / "beta.toml").write_text(good.replace("DevKitC-1-N16R8", "Beta"))
    both = [profiles.load(str(tmp_path / "alpha.toml")), profiles.load(str(tmp_path / "beta.toml"))]
    with MockBoard() as m:
        board, = detect_all(s, m)
    board.fits = detect.hold(board, both)
    assert [f.profile.name for f in board.fitting] == ["alpha", "beta"]
    assert row(board, "next") == "2 profiles fit: pick one with --profile"
    with pytest.raises(UserError, match=r"^2 profiles fit the board on .*: alpha, beta; pick one with --profile$"):
        fit.choose(board.fingerprint(), both, m.url)


def test_no_match_names_the_nearest(s):
    """4 MB flash with 8 MB octal PSRAM: no shipped profile is that board."""
    with MockBoard(flash_size=4 * MB, psram=8 * MB) as m:
        board, = detect_all(s, m)
    assert board.fitting == []
    assert row(board, "fits") == "no profile"
    nearest = board.fits[0]
    assert row(board, "nearest") == f"{nearest.profile.name}: {'; '.join(nearest.differences)}"
    assert len(nearest.differences) == 1
    assert row(board, "next") == f"write a profile from the board: `invoke detect --port {m.url} --new-profile NAME`"
    with pytest.raises(UserError, match=f"no profile fits .*nearest: {nearest.profile.name} "):
        fit.choose(board.fingerprint(), [f.profile for f in board.fits], m.url)


# ---- the USB path, from pyserial's port records ----------------------------------------------

@pytest.mark.parametrize("vid,pid,path,name", [
    (0x303A, 0x1001, "usb-serial-jtag", "ESP32-S3 USB-Serial/JTAG"),
    (0x303A, 0x4001, "usb-otg-cdc", "ESP32-S3 running MicroPython (USB CDC)"),
    (0x10C4, 0xEA60, "usb-uart-bridge", "CP210x USB-UART bridge"),
    (0x1234, 0x5678, "unknown", "a USB device mpforge does not know"),
])
def test_usb_path_from_the_port_record(vid, pid, path, name):
    records = [port_record("/dev/ttyUSB9", 0x0403, 0x6001), port_record("/dev/ttyACM7", vid, pid)]
    usb = ports.port_usb_path("/dev/ttyACM7", comports=records)
    assert (usb.path, usb.name, usb.vid, usb.pid) == (path, name, vid, pid)
    board = detect.Board("/dev/ttyACM7", ok=True, usb=usb)
    shown = ui_detect._usb(board)
    assert shown.startswith("not known:" if path == "unknown" else f"{path}: {name} ({vid:04X}:{pid:04X})")


def test_usb_path_of_a_url_is_not_known():
    records = [port_record("/dev/ttyACM0", 0x303A, 0x1001)]
    usb = ports.port_usb_path("socket://127.0.0.1:9", comports=records)
    assert usb.path == "unknown" and usb.vid is None
    assert ui_detect._usb(detect.Board("socket://127.0.0.1:9", ok=True, usb=usb)) == \
        "not known: a network port (URL) has no USB id"


# ---- through the task: the report, --json -------------------------------------------------------

@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "ci.yaml"
    path.write_text("mpforge:\n  before: no-reset\n  after: no-reset\n  connect_attempts: 2\n")
    return str(path)


def test_the_reset_after_detect_is_chosen_from_the_usb_path(invoke_run, tmp_path):
    """With `after` left at its default (auto), the reset that ends the read is chosen per port,
    as for flash: a socket:// port has no USB path, so a hard reset, which it cannot carry."""
    path = tmp_path / "auto.yaml"
    path.write_text("mpforge:\n  before: no-reset\n  connect_attempts: 2\n")
    with MockBoard() as m:
        result = invoke_run("-f", str(path), "detect", "--port", m.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "resetting (hard-reset)" in result.stdout and "carries no reset lines" in result.stdout
    assert "fits      esp32s3-n16r8: ESP32-S3, 16MB quad flash, 8MB octal PSRAM" in result.stdout
    # read in the ROM itself: no flasher stub went over the link (it alone is over 10 KB)
    assert 0 < m.received < 4096, m.received


def test_the_task_reports_two_boards_and_json(invoke_run, cfg):
    with MockBoard(flash_size=4 * MB, psram=0) as a, MockBoard(flash_size=16 * MB, flash_type="octal") as b:
        result = invoke_run("-f", cfg, "detect", "--port", a.url, "--port", b.url, env={"COLUMNS": "80"})
        assert result.returncode == 0, result.stdout + result.stderr
        out = result.stdout
        report = out[out.index(f"detect: {a.url}\n"):]  # after the live lines (no terminal: one per change)
        assert all(len(line) <= 80 for line in report.splitlines()), report
        assert f"detect: {a.url}\n" in out and f"detect: {b.url}\n" in out
        assert "fits      esp32s3-n4: ESP32-S3, 4MB quad flash, no PSRAM" in out
        assert "fits      esp32s3-n16r8v: ESP32-S3, 16MB octal flash, 8MB octal PSRAM" in out
        assert "none in the package (PSRAM eFuse 0)" in out
        as_json = invoke_run("-f", cfg, "detect", "-P", a.url, "-P", b.url, "--json")
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)  # stdout is only the document
    assert doc["ok"] is True and [d["port"] for d in doc["boards"]] == [a.url, b.url]
    first, second = doc["boards"]
    assert first["fitting"] == ["esp32s3-n4"] and second["fitting"] == ["esp32s3-n16r8v"]
    assert first["flash"] == {"jedec_id": "164020", "capacity_byte": 0x16, "known": True, "size": 4 * MB,
                              "type": "quad"}
    assert second["psram"] == {"efuse": 1, "known": True, "size": 8 * MB, "mode": "octal", "vendor": "AP_1v8"}
    assert first["usb"]["path"] == "unknown" and first["chip"]["ours"] is True
    assert {p["profile"] for p in first["profiles"]} == set(profiles.available())


def test_a_board_that_does_not_answer_is_one_line(invoke_run, cfg):
    line = one_line_error(invoke_run("-f", cfg, "detect", "--port", "socket://127.0.0.1:9"))
    assert "nothing is listening there" in line


# ---- --new-profile ------------------------------------------------------------------------------

def test_target_refusals_before_any_board_is_read(tmp_path):
    assert newprofile.target("my-board_2", ["/dev/ttyACM0"]) == profiles.BOARDS_DIR / "my-board_2.toml"
    assert newprofile.target(str(tmp_path / "x.toml"), None) == tmp_path.resolve() / "x.toml"
    with pytest.raises(UserError, match="give one --port, not 2"):
        newprofile.target("x", ["/dev/ttyACM0", "/dev/ttyACM1"])
    with pytest.raises(UserError, match="exists; --new-profile never overwrites"):
        newprofile.target("esp32s3-n16r8", ["/dev/ttyACM0"])
    for bad in ("../x", "a b", ".hidden", "x/y"):
        with pytest.raises(UserError, match="is not a plain profile name"):
            newprofile.target(bad, None)
    with pytest.raises(UserError, match="the file name before .toml"):
        newprofile.target(str(tmp_path / "a b.toml"), None)
    with pytest.raises(UserError, match="does not exist; make it first"):
        newprofile.target(str(tmp_path / "none" / "x.toml"), None)


INFERRED = ("board.name", "build.board", "build.variant", "build.board_name", "flash.freq", "psram.speed",
            "cpu.mhz", "verify.min_psram_heap", "verify.min_fs_size")
READ = ("board.chip", "flash.size", "flash.type", "psram.size", "psram.mode")


def _comments(text: str) -> dict[str, str]:
    """table.key -> the comment on its line."""
    found, table = {}, ""
    for line in text.splitlines():
        if line.startswith("["):
            table = line.strip("[]")
        elif m := re.match(r'(\w+) = ("(?:[^"\\]|\\.)*"|\S+)\s*(?:# (.*))?$', line):
            found[f"{table}.{m[1]}"] = m[3] or ""
    return found


def test_the_written_profile_marks_every_inferred_value(s, tmp_path):
    with MockBoard(flash_size=4 * MB, psram=8 * MB) as m:
        board, = detect_all(s, m)
    path = newprofile.write(board, newprofile.target(str(tmp_path / "n4r8.toml"), [m.url]))
    text = path.read_text()
    comments = _comments(text)
    for key in INFERRED:
        assert comments[key].startswith("inferred"), (key, comments[key])
    for key in READ:
        assert comments[key].startswith("read"), (key, comments[key])
    assert set(comments) == {*INFERRED, *READ, "board.description"}
    # the shipped format: the same tables in the same order as the reference profile
    shipped = (ROOT / "boards" / "esp32s3-n16r8.toml").read_text()
    tables = lambda t: re.findall(r"^\[(\w+)\]", t, re.M)  # noqa: E731
    assert tables(text) == tables(shipped)
    p = profiles.load(str(path))
    assert (p.flash_size, p.flash_type, p.psram_size, p.psram_mode) == (4 * MB, "quad", 8 * MB, "octal")
    assert p.variant == "FLASH_4M_SPIRAM_OCT" and p.board_name.endswith("with 4MB of Flash & Octal-SPIRAM")
    assert [f.profile.name for f in detect.hold(board, [p]) if f.fits] == ["n4r8"]  # it is the board


def test_a_board_without_psram_says_where_a_separate_chip_goes(s, tmp_path):
    with MockBoard(flash_size=32 * MB, flash_type="octal", psram=0) as m:
        board, = detect_all(s, m)
    text = newprofile.text(board, "n32")
    assert 'mode = "none"' in text and "add external = true" in text
    assert 'variant = "FLASH_32M_OCT_NO_SPIRAM"' in text
    profiles.from_text(text, "n32", tmp_path / "n32.toml")


def test_the_writer_never_overwrites(s, tmp_path):
    with MockBoard() as m:
        board, = detect_all(s, m)
    path = tmp_path / "mine.toml"
    target = newprofile.target(str(path), [m.url])
    path.write_text("# made meanwhile\n")  # after the check, before the write
    with pytest.raises(UserError, match="exists; --new-profile never overwrites"):
        newprofile.write(board, target)
    assert path.read_text() == "# made meanwhile\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".mine")] == []  # no temporary left


def test_the_writer_on_a_filesystem_without_hard_links(s, tmp_path, monkeypatch):
    """os.link refused (as on FAT or some network filesystems; simulated): the name is claimed
    with O_EXCL, then the content is swapped in; still never over an existing file."""
    import errno
    import os

    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    with MockBoard() as m:
        board, = detect_all(s, m)
    path = newprofile.write(board, newprofile.target(str(tmp_path / "fat.toml"), [m.url]))
    assert profiles.load(str(path)).flash_size == 16 * MB
    with pytest.raises(UserError, match="exists; --new-profile never overwrites"):
        newprofile.write(board, path)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "work") == ["fat.toml"]


def test_new_profile_through_the_task_loads_configs_and_builds(mp, cfg, tmp_path):
    made = {}
    with MockBoard(flash_size=4 * MB, psram=8 * MB) as a, MockBoard(flash_size=32 * MB, psram=0) as b:
        for mock, name in ((a, "n4r8"), (b, "n32")):
            path = tmp_path / f"{name}.toml"
            result = mp("-f", cfg, "detect", "--port", mock.url, "--new-profile", str(path))
            assert result.returncode == 0, result.stdout + result.stderr
            assert f"detect: wrote {path} from the board on {mock.url}" in result.stdout
            made[name] = path
        again = mp("-f", cfg, "detect", "--port", a.url, "--new-profile", str(made["n4r8"]))
        assert one_line_error(again) == f"error: {made['n4r8']} exists; --new-profile never overwrites a file: " \
                                        "give another NAME, or move that file away"
        c3 = MockBoard(chip="esp32c3")
        try:
            line = one_line_error(mp("-f", cfg, "detect", "-P", c3.url, "--new-profile", str(tmp_path / "c3.toml")))
        finally:
            c3.close()
        assert "is an ESP32-C3; mpforge builds for ESP32-S3 only" in line and not (tmp_path / "c3.toml").exists()
    for name, path in made.items():
        result = mp("config", "--profile", str(path))
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"config: resolved sdkconfig matches {name}" in result.stdout
    built = mp("build", "--profile", str(made["n4r8"]), env={"SIM_BUILD_LOG": str(tmp_path / "builds.log")})
    assert built.returncode == 0, built.stdout + built.stderr
    assert "images checked: ESP32-S3, 4MB in the header" in built.stdout
    assert (tmp_path / "builds.log").read_text().count("\n") == 1


# ---- --repl: the running firmware, asked before the reset ----------------------------------------

V1_24_GENERIC = {  # stock v1.24.1 ESP32_GENERIC_S3 (8 MB table, no PSRAM) on a 16 MB board with 8 MB PSRAM
    "SIM_VERSION": "1.24.1", "SIM_BUILD": "", "SIM_PSRAM_SIZE": "0", "SIM_FLASH_SIZE": str(8 * MB),
    "SIM_MACHINE": "Generic ESP32S3 module with ESP32S3", "SIM_FS_SIZE": str(6 * MB),
    "SIM_PARTITIONS": "nvs:1:2:0x9000:0x6000,phy_init:1:1:0xf000:0x1000,factory:0:0:0x10000:0x1f0000,"
                      f"vfs:1:0x81:0x200000:{6 * MB}"}


def _n16r8(port: str, running) -> detect.Board:
    return detect.Board(port, ok=True, chip="ESP32-S3", chip_key="esp32s3", flash_size=16 * MB, flash_type="quad",
                        psram_efuse=1, psram_size=8 * MB, psram_mode="octal", running=running)


def test_the_running_firmware_and_how_much_of_the_board_it_uses():
    from harness.repl_peer import ReplPeer

    old = ReplPeer("reference", "pty", **V1_24_GENERIC)
    try:
        running, note = detect.running_firmware(old.port, 5)
    finally:
        old.close()
    assert note == "" and (running.release, running.build, running.flash_end, running.psram_heap) == (
        "v1.24.1", None, 8 * MB, 0)
    assert ui_detect.firmware_text(_n16r8(old.port, running)) == (
        "v1.24.1 Generic ESP32S3 module: 8 MB flash of 16 MB used, PSRAM not used; "
        "does not use the whole board")
    ours = ReplPeer("reference", "pty")  # mpforge's esp32s3-n16r8 build of v1.28.0
    try:
        running, _ = detect.running_firmware(ours.port, 5)
    finally:
        ours.close()
    board = _n16r8(ours.port, running)
    text = ui_detect.firmware_text(board)
    assert text.startswith("v1.28.0 ESP32_GENERIC_S3-FLASH_16M_SPIRAM_OCT: 16 MB flash of 16 MB used, PSRAM used (")
    assert text.endswith("; uses the whole board") and board.as_dict()["firmware"]["uses_the_board_fully"] is True


@pytest.mark.parametrize("flash_end,heap,text", [
    (8 * MB, 7 * MB, "8 MB flash of 16 MB used, PSRAM used (7 MB heap); does not use the whole board"),
    (16 * MB, 0, "16 MB flash of 16 MB used, PSRAM not used; does not use the whole board"),
    (16 * MB, 7 * MB, "16 MB flash of 16 MB used, PSRAM used (7 MB heap); uses the whole board"),
])
def test_using_the_whole_board_takes_both_flash_and_psram(flash_end, heap, text):
    running = detect.Running("v1.24.1", "Generic ESP32S3 module with Octal-SPIRAM with ESP32S3",
                             "ESP32_GENERIC_S3-SPIRAM_OCT", 8 * MB, flash_end, heap)
    assert ui_detect.firmware_text(_n16r8("/dev/ttyACM0", running)) == f"v1.24.1 ESP32_GENERIC_S3-SPIRAM_OCT: {text}"


def test_repl_through_the_task(invoke_run, tmp_path):
    """--repl on a board in the ROM bootloader: no REPL answers, said in a row, the ROM facts follow.
    On a REPL with no ROM peer behind it (the peers are apart): what the firmware said, then the
    one line of why the bootloader was not reached."""
    from harness.repl_peer import ReplPeer

    cfg = tmp_path / "ci.yaml"
    cfg.write_text("mpforge:\n  before: no-reset\n  after: no-reset\n  connect_attempts: 1\n"
                   "  verify:\n    timeout: 1\n")
    with MockBoard() as m:
        result = invoke_run("-f", str(cfg), "detect", "--repl", "--port", m.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"firmware not read: no answer from {m.url} within 1 s: no MicroPython REPL there" in \
        " ".join(result.stdout.split()), result.stdout
    assert "fits      esp32s3-n16r8: " in result.stdout
    peer = ReplPeer("reference", "tcp", **V1_24_GENERIC)
    try:
        failed = invoke_run("-f", str(cfg), "detect", "--repl", "--port", peer.port)
    finally:
        peer.close()
    line = one_line_error(failed)
    assert "no ESP32 bootloader answered on" in line, failed.stderr
    assert f"  {peer.port}: firmware: v1.24.1 Generic ESP32S3 module: 8 MB flash used" in failed.stdout


def test_zz_the_project_tree_is_unchanged():
    assert _boards_tree() == BOARDS_BEFORE
    assert _git_status() == STATUS_BEFORE
