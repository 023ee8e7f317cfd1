"""The profile chosen from the board (docs/auto-profile.md): `invoke flash --port P` and
`invoke verify --port P` with no profile (or `--profile auto`), and `build-all --port P`.

flash reads each board through its ROM bootloader: the real esptool against the ROM peer
(tests/harness/esp_mock.py, the eFuse and flash-id values each test sets), the builds
simulated as in test_flash.py (write_fake_build: no xtensa toolchain here). verify asks
the firmware: the real MicroPython REPL peer (tests/harness/repl_peer.py).
"""

from __future__ import annotations

import json

import pytest

from conftest import RELEASE, one_line_error
from harness.esp_mock import MB, MockBoard
from harness.images import write_fake_build
from harness.repl_peer import repl_peers  # noqa: F401  (fixture)
from mpforge.errors import UserError
from mpforge.model import settings as settings_mod

APP_SIZE = 64 * 1024
N16R8, N8R2 = "esp32s3-n16r8", "esp32s3-n8r2"
SIZES = {N16R8: "16MB", N8R2: "8MB", "esp32s3-n16r8-ota": "16MB"}


@pytest.fixture
def cfg(tmp_path):
    """A config for peers without reset lines; the profile left at its default (auto)."""
    path = tmp_path / "ci.yaml"
    path.write_text("mpforge:\n  before: no-reset\n  connect_attempts: 2\n")
    return str(path)


@pytest.fixture
def build(tmp_path):
    """build(profile, seed) -> the images of a simulated build of that profile, in its build dir."""
    s = settings_mod.from_config({"mpforge": {"workdir": str(tmp_path / "work")}})

    def make(profile: str, seed: int = 0) -> dict:
        return write_fake_build(settings_mod.job(s, profile, RELEASE).build_dir, app_size=APP_SIZE,
                                flash_size=SIZES[profile], seed=seed)
    return make


@pytest.fixture
def run(invoke_run, cfg):
    def go(task, *ports_, args=(), **kw):
        return invoke_run("-f", cfg, task, *[a for p in ports_ for a in ("--port", p)], *args, timeout=120, **kw)
    return go


def holds(board: MockBoard, images: dict) -> bool:
    return board.flash.data[0x10000:0x10000 + len(images["app"])] == images["app"]


# ---- flash ---------------------------------------------------------------------------

@pytest.mark.parametrize("args", [(), ("--profile", "auto")], ids=["no-profile", "profile-auto"])
def test_a_n16r8_board_flashed_with_no_profile_gets_esp32s3_n16r8(run, build, args):
    images = build(N16R8)
    with MockBoard(flash_size=16 * MB, psram=8 * MB) as board:
        result = run("flash", board.url, args=args)
        assert result.returncode == 0, result.stderr
        assert holds(board, images)
    said = [line for line in result.stdout.splitlines() if line.startswith("flash: ")]
    assert (f"flash: {board.url}: profile esp32s3-n16r8: ESP32-S3, 16MB quad flash, 8MB octal PSRAM; "
            "also fits: esp32s3-n16r8-ota") in said


def test_two_boards_in_one_command_each_get_their_own_profile(run, build):
    big, small = build(N16R8, seed=1), build(N8R2, seed=2)
    with MockBoard(flash_size=16 * MB, psram=8 * MB) as a, \
            MockBoard(flash_size=8 * MB, psram=2 * MB) as b:
        result = run("flash", a.url, b.url, args=["--json"])
        assert result.returncode == 0, result.stderr
        assert holds(a, big) and holds(b, small) and not holds(a, small)
    doc = json.loads(result.stdout)
    chosen = {one["port"]: one["profile"] for one in doc["boards"]}
    assert chosen[a.url]["name"] == N16R8 and chosen[b.url]["name"] == N8R2
    assert all(p["chosen"] for p in chosen.values())
    assert chosen[b.url]["why"] == "esp32s3-n8r2: ESP32-S3, 8MB quad flash, 2MB quad PSRAM"


def test_the_table_names_each_boards_profile(run, build):
    build(N16R8), build(N8R2)
    with MockBoard() as a, MockBoard(flash_size=8 * MB, psram=2 * MB) as b:
        result = run("flash", a.url, b.url)
    assert result.returncode == 0, result.stderr
    assert f"  {a.url}: profile esp32s3-n16r8: " in result.stdout
    assert f"  {b.url}: profile esp32s3-n8r2: " in result.stdout


def test_a_board_no_profile_fits_is_refused_in_one_line_naming_the_nearest(run, build):
    build(N16R8)
    with MockBoard(flash_size=4 * MB, psram=8 * MB) as board:
        line = one_line_error(run("flash", board.url))
        assert board.flash.bytes_written == 0
    assert f"no profile fits the board on {board.url} (4MB quad flash, 8MB octal PSRAM)" in line
    assert "nearest: " in line and "--new-profile" in line


def test_a_fitting_profile_not_built_yet_is_refused_and_nothing_written(run, build):
    build(N16R8)  # only the reference board's
    with MockBoard(flash_size=8 * MB, psram=2 * MB) as board:
        line = one_line_error(run("flash", board.url))
        assert board.flash.bytes_written == 0
    assert "no firmware built in" in line and f"invoke build --profile {N8R2}" in line


def test_an_explicit_profile_wins_over_the_board(run, build, invoke_run, tmp_path):
    images = build("esp32s3-n16r8-ota")  # fits, but is never chosen: its layout is the user's
    with MockBoard() as board:
        result = run("flash", board.url, args=["--profile", "esp32s3-n16r8-ota"])
        assert result.returncode == 0, result.stderr
        assert holds(board, images) and "profile esp32s3-n16r8-ota:" not in result.stdout
    build(N16R8)
    user = tmp_path / "user.yaml"  # a profile the user set, on a board it does not fit
    user.write_text("mpforge:\n  before: no-reset\n  connect_attempts: 2\n  profile: esp32s3-n16r8\n")
    with MockBoard(flash_size=8 * MB, psram=2 * MB) as board:
        line = one_line_error(invoke_run("-f", str(user), "flash", "--port", board.url, timeout=120))
        assert board.flash.bytes_written == 0
    assert "does not match profile esp32s3-n16r8" in line


def test_dry_run_reads_no_board(run, build, invoke_run, cfg):
    with MockBoard() as board:
        result = invoke_run("-f", cfg, "--dry", "flash", "--port", board.url)
        assert result.returncode == 0, result.stderr
        assert "would run: read each board on" in result.stdout and board.sessions == 0


# ---- tasks without a board ---------------------------------------------------------

def test_tasks_without_a_board_use_profile_without_board():
    s = settings_mod.from_config({"mpforge": {}})
    assert s.profile == "auto" and s.auto_profile(None) and s.auto_profile(["auto"])
    assert not s.auto_profile("esp32s3-n8r8") and not s.auto_profile([N8R2])
    assert settings_mod.job(s).profile.name == N16R8
    assert settings_mod.job(s, "auto").profile.name == N16R8
    assert [j.profile.name for j in settings_mod.jobs(s, [], [RELEASE])] == [N16R8]
    other = settings_mod.from_config({"mpforge": {"profile_without_board": "esp32s3-n8r8"}})
    assert settings_mod.job(other).profile.name == "esp32s3-n8r8"
    named = settings_mod.from_config({"mpforge": {"profile": N8R2}})
    assert not named.auto_profile(None) and settings_mod.job(named).profile.name == N8R2
    with pytest.raises(UserError, match="profile_without_board is 'auto'"):
        settings_mod.from_config({"mpforge": {"profile_without_board": "auto"}})


def test_boards_marks_the_reference_board_as_the_default(invoke_run):
    result = invoke_run("boards", "--json")
    assert result.returncode == 0, result.stderr
    assert [r["profile"] for r in json.loads(result.stdout) if r.get("default")] == [N16R8]


# ---- verify --------------------------------------------------------------------------

@pytest.mark.parametrize("args", [(), ("--profile", "auto")], ids=["no-profile", "profile-auto"])
def test_verify_with_no_profile_checks_the_profile_the_firmware_names(invoke_run, repl_peers, args):
    peer = repl_peers("reference")
    result = invoke_run("verify", "--port", peer.port, *args, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"verify: {peer.port}: profile esp32s3-n16r8 (the board name its firmware reports)" in result.stdout
    assert "the firmware built for esp32s3-n16r8" in result.stdout


def test_verify_two_boards_each_against_its_own_profile(invoke_run, repl_peers):
    ref, ota = repl_peers("reference"), repl_peers("ota")
    result = invoke_run("verify", "--port", ref.port, "--port", ota.port, "--json", timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["ok"] and doc["profile"] == "auto"
    assert [b["profile"] for b in doc["boards"]] == [N16R8, "esp32s3-n16r8-ota"]


def test_verify_a_firmware_no_profile_builds_is_one_line(invoke_run, repl_peers):
    peer = repl_peers("stock")
    line = one_line_error(invoke_run("verify", "--port", peer.port, timeout=60))
    assert "reports the board name 'Generic ESP32S3 module with Octal-SPIRAM'" in line
    assert "no profile in boards/ builds" in line and "--profile" in line


def test_verify_with_an_explicit_profile_checks_that_one(invoke_run, repl_peers):
    peer = repl_peers("reference")
    line = one_line_error(invoke_run("verify", "--port", peer.port, "--profile", "esp32s3-n8r8", timeout=60))
    assert "not the firmware built for esp32s3-n8r8" in line


# ---- build-all --port ----------------------------------------------------------------

def test_build_all_for_the_board_on_a_port_then_flash_it(mp, cfg):
    """The whole chain against the session's git repositories and the simulated ESP-IDF
    (test_pipeline.py), for the profile the ROM peer's board fits."""
    with MockBoard(flash_size=8 * MB, psram=2 * MB) as board:
        built = mp("-f", cfg, "build-all", "--port", board.url, timeout=300)
        assert built.returncode == 0, built.stdout + built.stderr
        assert f"build-all: {board.url}: profile esp32s3-n8r2: ESP32-S3, 8MB quad flash, 2MB quad PSRAM" \
            in built.stdout
        assert f"== esp32s3-n8r2 @ micropython {RELEASE}" in built.stdout
        assert "== esp32s3-n16r8 @" not in built.stdout
        assert board.flash.bytes_written == 0  # read, not written
        flashed = mp("-f", cfg, "flash", "--port", board.url, timeout=120)
        assert flashed.returncode == 0, flashed.stdout + flashed.stderr
        assert board.flash.bytes_written > 0 and "profile esp32s3-n8r2:" in flashed.stdout


def test_build_all_for_a_board_no_profile_fits_builds_nothing(mp, cfg, tmp_path):
    with MockBoard(flash_size=4 * MB, psram=8 * MB) as board:
        line = one_line_error(mp("-f", cfg, "build-all", "--port", board.url, timeout=120))
    assert f"no profile fits the board on {board.url}" in line
    assert not (tmp_path / "work" / "micropython").exists()  # not even fetched


def test_build_all_with_a_port_and_a_profile_builds_that_profile(mp, cfg):
    with MockBoard(flash_size=8 * MB, psram=2 * MB) as board:
        result = mp("-f", cfg, "--dry", "build-all", "--port", board.url, "--profile", N16R8, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        assert board.sessions == 0 and "esp32s3-n16r8" in result.stdout
        dry = mp("-f", cfg, "--dry", "build-all", "--port", board.url, timeout=120)
        assert dry.returncode == 0 and board.sessions == 0
        assert "would run: read each board on" in dry.stdout


@pytest.mark.parametrize("port, words", [("/dev/ttyMPFORGE-nothing", "/dev/ttyMPFORGE-nothing not found"),
                                         ("socket://127.0.0.1:9", "nothing is listening there")])
def test_build_all_on_a_port_with_no_board_is_one_line(invoke_run, cfg, port, words):
    line = one_line_error(invoke_run("-f", cfg, "build-all", "--port", port, timeout=60))
    assert words in line


def test_two_plain_profiles_fitting_one_board_is_refused_listing_both(tmp_path):
    """A user's copy of the reference profile beside it: the board fits both, so neither is
    chosen (boards/ is the project's; the second profile is a file the test makes)."""
    from mpforge.board import fleet
    from mpforge.model import profiles
    from mpforge.model.fingerprint import Fingerprint

    copy = tmp_path / "my-n16r8.toml"
    copy.write_text((profiles.BOARDS_DIR / f"{N16R8}.toml").read_text())
    board = Fingerprint("ESP32-S3", 16 * MB, "quad", 8 * MB, "octal", "24:0a:c4:00:00:01")
    candidates = [profiles.load(N16R8), profiles.load(str(copy)), profiles.load("esp32s3-n16r8-ota")]
    with pytest.raises(UserError) as refused:
        fleet.choose_profile(board, "/dev/ttyACM0", candidates)
    assert str(refused.value) == ("2 profiles fit the board on /dev/ttyACM0 (16MB quad flash, 8MB octal PSRAM): "
                                  "esp32s3-n16r8, my-n16r8; pick one with --profile")
    chosen = fleet.choose_profile(board, "/dev/ttyACM0", candidates[:1] + candidates[2:])
    assert fleet.choice_text(chosen) == ("esp32s3-n16r8: ESP32-S3, 16MB quad flash, 8MB octal PSRAM; "
                                         "also fits: esp32s3-n16r8-ota")
