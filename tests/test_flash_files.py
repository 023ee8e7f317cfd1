"""Links that fit real boards, and the board's files across a flash: the real esptool
against the ROM peer (tests/harness/esp_mock.py) in this process, LittleFS images made
and opened with littlefs-python, the invoke tasks run as subprocesses.

Simulated beyond the peer (it cannot exist here): a slow flasher stub
(MockBoard.stub_delay) and a link that drops mid-write (an on_write hook ending the
session), each the smallest change to the peer that shows the behaviour.
"""

from __future__ import annotations

import json

import pytest
from littlefs import LittleFS, UserContext

from conftest import RELEASE, one_line_error
from harness.esp_mock import MB, MockBoard
from harness.images import PartitionEntry, default_partitions, make_partition_table, write_fake_build
from harness.repl_peer import rom_peer  # noqa: F401  (fixture)
from mpforge.board import ports
from mpforge.model import settings as settings_mod

APP_SIZE = 64 * 1024
PROFILE = "esp32s3-n16r8"
VFS = 0x200000
OLD_FS_SIZE = 0x600000  # a v1.24-style 8MiB table on this 16 MB board
NEW_FS_SIZE = 16 * MB - VFS  # the build's table: vfs to the end of flash
FILES = {"/main.py": b"print('hello')\n", "/lib/sensor.py": b"X = 1\n" * 2000,
         "/data/log.bin": bytes(range(256)) * 40}


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "ci.yaml"
    path.write_text("mpforge:\n  before: no-reset\n  after: hard-reset\n  connect_attempts: 2\n")
    return path


@pytest.fixture
def built(tmp_path):
    s = settings_mod.from_config({"mpforge": {"workdir": str(tmp_path / "work")}})
    return write_fake_build(settings_mod.job(s, PROFILE, RELEASE).build_dir, app_size=APP_SIZE)


@pytest.fixture
def run(invoke_run, cfg):
    def go(task, url, *args, config=None):
        return invoke_run("-f", str(config or cfg), task, "--port", url, *args, timeout=120)
    return go


def lfs_image(size: int, files: dict[str, bytes]) -> bytes:
    """A LittleFS v2 image with 4096-byte blocks, as MicroPython formats the ESP32-S3's."""
    fs = LittleFS(context=UserContext(size), block_size=4096, block_count=size // 4096,
                  disk_version=0x00020000, mount=False)
    fs.format()
    fs.mount()
    for path, data in files.items():
        fs.makedirs(path.rsplit("/", 1)[0] or "/", exist_ok=True)
        with fs.open(path, "wb") as handle:
            handle.write(data)
    fs.unmount()
    return bytes(fs.context.buffer)


def lfs_files(data: bytes, block_count: int) -> dict[str, bytes]:
    """Every file in a LittleFS image opened with the given geometry (as a firmware would)."""
    fs = LittleFS(context=UserContext(buffer=bytearray(data)), block_size=4096,
                  block_count=block_count, mount=False)
    fs.mount()
    assert fs.block_count == block_count
    found = {}
    for top, _dirs, names in fs.walk("/"):
        for name in names:
            path = f"{top.rstrip('/')}/{name}"
            with fs.open(path, "rb") as handle:
                found[path] = handle.read()
    return found


def old_board(board: MockBoard, fs_size: int = OLD_FS_SIZE, fs: bytes | None = None) -> None:
    """The board as another firmware left it: its partition table and its filesystem."""
    table = default_partitions("16MB")[:3] + [PartitionEntry("vfs", "data", "fat", VFS, fs_size)]
    board.flash.data[0x8000:0x8000 + 0xC00] = make_partition_table(table)
    image = lfs_image(fs_size, FILES) if fs is None else fs
    board.flash.data[VFS:VFS + len(image)] = image


def backups(tmp_path, board) -> list:
    root = tmp_path / "work" / "backups" / board.mac_text.replace(":", "-")
    return sorted(p for p in root.iterdir() if not p.name.startswith(".")) if root.exists() else []


# ---- links ------------------------------------------------------------------------

def test_a_slow_stub_still_flashes(run, built):
    with MockBoard(stub_delay=0.5) as board:
        result = run("flash", board.url)
        assert result.returncode == 0, result.stderr
        assert board.flash.data[0x10000:0x10000 + len(built["app"])] == built["app"]


def test_a_reset_mode_the_chip_cannot_do_is_refused_at_load(run, built, tmp_path):
    config = tmp_path / "soft.yaml"
    config.write_text("mpforge:\n  before: no-reset\n  after: soft-reset\n")
    with MockBoard() as board:
        for task in ("flash", "erase"):
            line = one_line_error(run(task, board.url, config=config))
            assert "'after' is 'soft-reset'" in line and "ESP32-S3" in line
            assert "hard-reset, no-reset, no-reset-stub, watchdog-reset" in line
        assert board.sessions == 0 and board.flash.bytes_written == 0


def test_a_link_failing_mid_write_is_retried_slower_without_a_second_erase(run, built):
    with MockBoard(lossy_above=460800) as board:  # 921600 loses bytes in long writes
        result = run("flash", board.url, "--erase")
        assert result.returncode == 0, result.stderr
        assert "errors at 921600 baud" in result.stdout and "retrying at 460800" in result.stdout
        assert "at 460800 baud" in result.stdout
        assert board.flash.erases == 1
        assert board.flash.data[0x10000:0x10000 + len(built["app"])] == built["app"]


def test_the_user_is_told_when_the_board_was_not_reset(run, built, tmp_path):
    with MockBoard() as board:
        result = run("flash", board.url)
        assert result.returncode == 0, result.stderr
        assert "not reset: " in result.stdout and "socket://" in result.stdout
        assert "RESET button" in result.stdout
        config = tmp_path / "wdt.yaml"
        config.write_text("mpforge:\n  before: no-reset\n  after: watchdog-reset\n")
        result = run("flash", board.url, config=config)
        assert result.returncode == 0, result.stderr
        assert "reset by the watchdog" in result.stdout and "not reset" not in result.stdout


def test_every_download_banner_is_download_mode():
    for banner in (b"rst:0x1 (POWERON),boot:0x0 (DOWNLOAD(USB/UART0))\r\nwaiting for download\r\n",
                   b"ESP-ROM:esp32s3-20210327\r\nwait uart0 download\r\n",
                   b"boot:0x23 (DOWNLOAD(UART0/UART1))\r\n"):
        assert ports.in_download_mode(banner), banner
    assert not ports.in_download_mode(b"rst:0x7 (TG0WDT_SYS_RST),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\n"
                                      b"invalid header: 0xffffffff\r\n")


def test_external_psram_is_left_to_verify(run, built, tmp_path):
    text = (settings_mod.profiles.profile_path(PROFILE).read_text()
            .replace('mode = "octal"', 'mode = "octal"\nexternal = true'))
    profile = tmp_path / "external.toml"
    profile.write_text(text)
    with MockBoard(psram=0) as board:  # a separate PSRAM chip is not in the eFuses
        result = run("flash", board.url, "--profile", str(profile))
        assert result.returncode == 0, result.stderr
        assert "`invoke verify` proves it" in result.stdout


# ---- the board's files --------------------------------------------------------------

def test_files_survive_a_flash_that_moves_the_filesystem(run, built, tmp_path):
    with MockBoard() as board:
        old_board(board)
        result = run("flash", board.url)
        assert result.returncode == 0, result.stderr
        assert "3 files" in result.stdout and "put back" in result.stdout
        # the firmware will mount the new geometry: every file is there, byte for byte
        data = bytes(board.flash.data[VFS:VFS + NEW_FS_SIZE])
        assert lfs_files(data, NEW_FS_SIZE // 4096) == FILES
        [saved] = backups(tmp_path, board)
        manifest = json.loads((saved / "backup.json").read_text())
        assert set(manifest["files"]) == set(FILES) and manifest["partition"]["size"] == hex(OLD_FS_SIZE)
        assert (saved / "files" / "lib" / "sensor.py").read_bytes() == FILES["/lib/sensor.py"]


def test_erase_first_keeps_a_copy_of_the_files(run, built, tmp_path):
    """--erase empties the flash, files too; they are copied first, and `invoke restore` puts
    them back into the new firmware's filesystem."""
    with MockBoard() as board:
        old_board(board)
        result = run("flash", board.url, "--erase")
        assert result.returncode == 0, result.stderr
        [saved] = backups(tmp_path, board)
        assert f"backed up to {saved}" in result.stdout and "invoke restore" in result.stdout
        assert (saved / "files" / "main.py").read_bytes() == FILES["/main.py"]
        assert board.flash.erases == 1 and bytes(board.flash.data[VFS:VFS + 4096]) == b"\xff" * 4096
        result = run("restore", board.url)
        assert result.returncode == 0, result.stderr
        assert lfs_files(bytes(board.flash.data[VFS:VFS + NEW_FS_SIZE]), NEW_FS_SIZE // 4096) == FILES


def test_invoke_erase_keeps_a_copy_of_the_files(run, tmp_path):
    with MockBoard() as board:
        old_board(board)
        result = run("erase", board.url)
        assert result.returncode == 0, result.stderr
        [saved] = backups(tmp_path, board)
        assert "files: 3 files" in result.stdout and f"backed up to {saved}" in result.stdout
        assert set(json.loads((saved / "backup.json").read_text())["files"]) == set(FILES)
        assert board.flash.erases == 1 and bytes(board.flash.data[VFS:VFS + 4096]) == b"\xff" * 4096
        again = run("erase", board.url)  # nothing left to copy: no word about files
        assert again.returncode == 0 and "files" not in again.stdout and len(backups(tmp_path, board)) == 1


def test_a_blank_filesystem_needs_no_backup(run, built, tmp_path):
    with MockBoard() as board:
        old_board(board, fs=b"\xff" * 8192)  # the old table, a filesystem never formatted
        result = run("flash", board.url)
        assert result.returncode == 0, result.stderr
        assert "none to keep" in result.stdout and backups(tmp_path, board) == []
        assert lfs_files(bytes(board.flash.data[VFS:VFS + NEW_FS_SIZE]), NEW_FS_SIZE // 4096) == {}


def test_a_flash_that_keeps_the_layout_leaves_the_filesystem_alone(run, built, tmp_path):
    with MockBoard() as board:
        old_board(board, NEW_FS_SIZE)  # the same table as the build's
        before = bytes(board.flash.data[VFS:])
        result = run("flash", board.url)
        assert result.returncode == 0, result.stderr
        assert bytes(board.flash.data[VFS:]) == before
        assert "; files kept" in result.stdout and backups(tmp_path, board) == []


@pytest.mark.parametrize("content, words", [
    (b"\x12\x34" * 4096, ["neither LittleFS nor blank", "--discard-files"]),
    (b"\xeb\x3c\x90MSDOS5.0" + bytes(43) + b"FAT     " + bytes(448) + b"\x55\xaa",
     ["is FAT", "mpremote cp -r", "--discard-files"]),
], ids=["garbage", "fat"])
def test_a_filesystem_that_cannot_be_copied_is_refused(run, built, tmp_path, content, words):
    with MockBoard() as board:
        old_board(board, fs=content)
        line = one_line_error(run("flash", board.url))
        for word in words:
            assert word in line
        assert board.flash.bytes_written == 0

        result = run("flash", board.url, "--discard-files")
        assert result.returncode == 0, result.stderr
        assert "discarded" in result.stdout
        # an empty filesystem of the new geometry, not the old bytes the firmware would loop on
        assert lfs_files(bytes(board.flash.data[VFS:VFS + NEW_FS_SIZE]), NEW_FS_SIZE // 4096) == {}


def test_backup_and_restore_round_trip(run, built, tmp_path):
    with MockBoard() as board:
        old_board(board, NEW_FS_SIZE)
        result = run("backup", board.url)
        assert result.returncode == 0, result.stderr
        [saved] = backups(tmp_path, board)
        assert str(saved) in result.stdout

        board.flash.data[VFS:VFS + NEW_FS_SIZE] = lfs_image(NEW_FS_SIZE, {})  # the files are gone
        result = run("restore", board.url)
        assert result.returncode == 0, result.stderr
        assert lfs_files(bytes(board.flash.data[VFS:VFS + NEW_FS_SIZE]), NEW_FS_SIZE // 4096) == FILES
        assert len(backups(tmp_path, board)) == 1  # an empty filesystem needs no safety copy

        # over files: those are saved first, then replaced
        result = run("restore", board.url, "--backup", str(saved))
        assert result.returncode == 0, result.stderr
        safety = backups(tmp_path, board)[-1]
        assert safety != saved and str(safety) in result.stdout
        assert (safety / "files" / "main.py").read_bytes() == FILES["/main.py"]


def test_files_that_cannot_be_read_stop_backup_and_restore_not_erase(run, built, tmp_path):
    """Each task that reads the board's files says what an unreadable filesystem means for it."""
    with MockBoard() as board:
        old_board(board, NEW_FS_SIZE)
        assert run("backup", board.url).returncode == 0
        [saved] = backups(tmp_path, board)
        board.flash.data[VFS:VFS + 8192] = b"\x12\x34" * 4096
        line = one_line_error(run("backup", board.url))
        assert "neither LittleFS nor blank" in line and backups(tmp_path, board) == [saved]
        line = one_line_error(run("restore", board.url))
        assert "neither LittleFS nor blank" in line and "restore over it with --discard-files" in line
        assert board.flash.bytes_written == 0
        result = run("restore", board.url, "--discard-files")
        assert result.returncode == 0, result.stderr
        assert lfs_files(bytes(board.flash.data[VFS:VFS + NEW_FS_SIZE]), NEW_FS_SIZE // 4096) == FILES

        board.flash.data[VFS:VFS + 8192] = b"\x12\x34" * 4096
        result = run("erase", board.url)  # the user asked for an empty flash: erased all the same
        assert result.returncode == 0, result.stderr
        assert "could not be copied first" in result.stdout and "neither LittleFS nor blank" in result.stdout
        assert board.flash.erases == 1 and backups(tmp_path, board) == [saved]


def test_restore_without_a_backup_says_so(run, built):
    with MockBoard() as board:
        old_board(board, NEW_FS_SIZE)
        line = one_line_error(run("restore", board.url))
        assert "no backup of board" in line and "--backup" in line
        assert board.flash.bytes_written == 0


# ---- verify sees what became of the filesystem ----------------------------------------

CORRUPTED = (b"The filesystem appears to be corrupted. If you had important data there, you\r\n"
             b"may want to make a flash snapshot to try to recover it. Otherwise, perform\r\n"
             b"factory reprogramming of MicroPython firmware (completely erase flash, followed\r\n"
             b"by firmware programming).\r\n")


def test_verify_recognises_a_corrupted_filesystem(invoke_run, rom_peer, tmp_path):
    peer = rom_peer(CORRUPTED, period=0.2)
    config = tmp_path / "v.yaml"
    config.write_text("mpforge:\n  verify:\n    timeout: 2\n")
    line = one_line_error(invoke_run("-f", str(config), "verify", "--port", peer.port))
    assert "filesystem appears to be corrupted" in line
    assert "invoke backup" in line and "invoke restore" in line


def test_verify_recognises_the_uart_download_banner(invoke_run, rom_peer):
    peer = rom_peer(b"ESP-ROM:esp32s3-20210327\r\nwait uart0 download\r\n", period=0.2)
    line = one_line_error(invoke_run("verify", "--port", peer.port))
    assert "download mode" in line


def test_only_link_errors_are_worth_a_retry():
    import serial
    from esptool.util import FatalError
    from mpforge.board.transport import link_trouble

    assert link_trouble(serial.SerialException("read failed: [Errno 104] Connection reset by peer"))
    assert link_trouble(FatalError("Timed out waiting for packet header"))
    assert link_trouble(FatalError("Serial data stream stopped: Possible serial noise or corruption."))
    assert not link_trouble(FatalError("Soft resetting is currently only supported on ESP8266"))
    assert not link_trouble(FatalError("'app.bin' is not an ESP32-S3 image. Use --force to flash anyway."))


def test_a_backup_changed_on_disk_or_naming_paths_outside_is_not_restored(tmp_path):
    from mpforge.board import filesystem
    from mpforge.image.partitions import Partition

    region = Partition("vfs", 1, 0x81, VFS, NEW_FS_SIZE)
    saved = filesystem.save(filesystem.Snapshot(dict(FILES), ["/lib", "/data"]), tmp_path, "24:0a:c4:00:00:01",
                            region, "test")
    assert filesystem.load(saved).files == FILES
    (saved / "files" / "main.py").write_bytes(b"print('changed')\n")
    with pytest.raises(filesystem.FilesystemError, match="changed since the backup"):
        filesystem.load(saved)
    manifest = json.loads((saved / "backup.json").read_text())
    manifest["files"] = {"/../outside.py": "0" * 64}
    (saved / "backup.json").write_text(json.dumps(manifest))
    with pytest.raises(filesystem.FilesystemError, match="unsafe path"):
        filesystem.load(saved)


def test_verify_names_a_filesystem_the_firmware_could_not_mount():
    """The firmware's loop was broken by Ctrl-C and the REPL came up without a filesystem."""
    from mpforge.board import checks as board_checks
    from mpforge.model import profiles

    check = board_checks.check_fs({"fs_corrupted": True, "fs_size": 0}, profiles.load(PROFILE))
    assert check.passed is False and check.found == "corrupted"
    assert "invoke backup" in check.problem and "invoke restore" in check.problem
