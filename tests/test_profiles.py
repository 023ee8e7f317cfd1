"""Profiles: every shipped one loads; every kind of mistake is one line naming file and key."""

import pytest

from mpforge.model import profiles
from mpforge.model import releases
from mpforge.model import settings
from mpforge.errors import UserError

GOOD = """
[board]
name = "Test board"
chip = "esp32s3"
[build]
board = "ESP32_GENERIC_S3"
variant = "TEST_16M"
board_name = "Test"
[flash]
size = "16MB"
type = "quad"
[psram]
size = "8MB"
mode = "octal"
[cpu]
mhz = 240
[verify]
min_psram_heap = "6MB"
min_fs_size = "13MB"
"""


def write(tmp_path, text):
    path = tmp_path / "myboard.toml"
    path.write_text(text)
    return path


def test_shipped_profiles_load():
    names = profiles.available()
    assert {"esp32s3-n16r8", "esp32s3-n8r8", "esp32s3-n8r2", "esp32s3-n16r8v", "esp32s3-n32r8v", "esp32s3-n4"} <= set(names)
    ref = profiles.load("esp32s3-n16r8")
    assert (ref.board, ref.variant) == ("ESP32_GENERIC_S3", "FLASH_16M_SPIRAM_OCT")
    assert ref.board_name == "ESP32S3 microcontroller with 16MB of Flash & Octal-SPIRAM"
    assert (ref.flash_size, ref.flash_type, ref.psram_size, ref.psram_mode, ref.cpu_mhz) == (16 << 20, "quad", 8 << 20, "octal", 240)
    assert profiles.load("esp32s3-n4").psram_mode == "none"
    assert profiles.load("esp32s3-n32r8v").flash_type == "octal"


def test_profile_by_path(tmp_path):
    assert profiles.load(str(write(tmp_path, GOOD))).variant == "TEST_16M"


@pytest.mark.parametrize("old,new,message", [
    ('mhz = 240', 'mhz = 240\nspeed = 1', "unknown key 'cpu.speed'"),
    ('[cpu]', '[cpu]\n[cpuu]', "unknown table [cpuu]"),
    ('size = "16MB"', 'size = "12MB"', "'flash.size' must be a power of two"),
    ('mode = "octal"', 'mode = "opi"', "'psram.mode' is 'opi'; expected one of none, quad, octal"),
    ('type = "quad"', 'type = "qio"', "'flash.type' is 'qio'"),
    ('mhz = 240', 'mhz = 200', "'cpu.mhz' is 200"),
    ('chip = "esp32s3"', 'chip = "esp32"', "'board.chip' is 'esp32'"),
    ('min_fs_size = "13MB"', 'min_fs_size = "20MB"', "'verify.min_fs_size' must be smaller than flash.size"),
    ('variant = "TEST_16M"', '', "missing key 'build.variant'"),
    ('size = "16MB"', 'size = "lots"', "'lots' is not a size"),
    ('mhz = 240', 'mhz = "240"', "'cpu.mhz' must be a int"),
])
def test_bad_profile_is_one_line_naming_file_and_key(tmp_path, old, new, message):
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(UserError) as err:
        profiles.load(str(path))
    text = str(err.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text


def test_unknown_profile_lists_available():
    with pytest.raises(UserError, match=r"unknown profile 'esp32s3-n16r9'; available: .*esp32s3-n16r8"):
        profiles.load("esp32s3-n16r9")


def test_release_table_pins_full_commits_and_known_lines():
    versions = [releases.version_tuple(v) for v in releases.RELEASES]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)  # in order, once each
    assert {"v1.22.2", "v1.28.0"} <= set(releases.RELEASES)  # the range the overlays were written for
    assert releases.DEFAULT in releases.RELEASES
    for release in releases.RELEASES.values():  # unpinned ("" : locked on first fetch) only the newest
        assert (len(release.commit) == 40 and int(release.commit, 16)) or release.version == list(releases.RELEASES)[-1]
        assert releases.version_tuple(release.idf_min) <= releases.version_tuple(release.idf)
        assert release.line in ("v1.22", "v1.24", "v1.26", "v1.29")
    assert releases.get("1.28").idf == "v5.5.1"
    with pytest.raises(UserError, match="unknown MicroPython release 'v1.21.0'; supported: v1.22.2, "):
        releases.get("v1.21.0")


def test_settings_precedence_flags_over_config():
    config = {"mpforge": {"profile": "esp32s3-n8r8", "micropython": {"version": "v1.24.1"}, "workdir": "/tmp/w"}}
    s = settings.from_config(config)
    assert (s.profile, s.micropython_version, str(s.workdir)) == ("esp32s3-n8r8", "v1.24.1", "/tmp/w")
    s = settings.from_config(config, profile="esp32s3-n4", micropython="1.23")
    assert (s.profile, s.micropython_version) == ("esp32s3-n4", "v1.23.0")
    job = settings.job(s)
    assert job.build_dir.name == "build-ESP32_GENERIC_S3-FLASH_4M_NO_SPIRAM"
    assert job.idf_dir.name == "v5.0.4"
