"""The refusal matrix: every rule that stops a wrong firmware or calls a wrong
board good, one case each. Each case breaks only that rule (everything else
is the reference board, esp32s3-n16r8 on v1.28.0), is refused with a message
naming what was found and what was wanted, and its nearest neighbour (the
closest value that is right) passes. scripts/mutants.py removes each check in
turn and shows that a case here fails.

Images are real ESP images made with esptool's classes (tests/harness/images.py);
the board fingerprints and config values are plain data, since the rules are
pure functions of them (the peers that produce them are tested elsewhere).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest

from harness.esp_mock import MockBoard
from harness.images import (PartitionEntry, default_partitions, make_app_image, make_partition_table,
                            write_fake_build)
from mpforge.board import checks as board_checks, device, policy, store, transport
from mpforge.build import make
from mpforge.config import boardcmake
from mpforge.config import check as configcheck
from mpforge.dist import collect, load
from mpforge.errors import UserError
from mpforge.image import firmware, judge
from mpforge.model import profiles, releases
from mpforge.model import settings as settings_mod

MB = 1024 * 1024
PROFILE = "esp32s3-n16r8"  # 16MB quad flash, 8MB octal PSRAM, 240 MHz
RELEASE = "v1.28.0"
REF = profiles.load(PROFILE)
APP_SIZE = 64 * 1024


@pytest.fixture
def job(tmp_path, monkeypatch):
    """The reference job on a MicroPython tree that is a tmp folder (no IDF: dist falls back
    to the build's own record for its settings)."""
    s = settings_mod.from_config({"mpforge": {"workdir": str(tmp_path / "work"),
                                              "micropython": {"dir": str(tmp_path / "mp")},
                                              "idf": {"dir": str(tmp_path / "no-idf")}}})
    return settings_mod.job(s, PROFILE, RELEASE)


# ---- firmware vs profile: the judge, and build, dist and flash calling it ------------------

def _args(build: Path, **changes) -> None:
    path = build / "flasher_args.json"
    data = json.loads(path.read_text())
    for key, value in changes.items():
        if key == "chip":
            data["extra_esptool_args"]["chip"] = value
        elif key == "flash_size":
            data["flash_settings"]["flash_size"] = value
        elif key == "drop":
            data.pop(value)
    path.write_text(json.dumps(data))


def _app(build: Path) -> Path:
    return build / "micropython.bin"


def _table(build: Path) -> Path:
    return build / "partition_table" / "partition-table.bin"


def _resave_digest(data: bytes) -> bytes:
    """An app image with its appended SHA-256 made right again after an edit before it."""
    return data[:-32] + hashlib.sha256(data[:-32]).digest()


def _with_checksum(checksum_delta: int):
    def edit(build: Path) -> None:
        data = bytearray(_app(build).read_bytes())
        data[-33] ^= checksum_delta  # the checksum byte sits just before the SHA-256
        _app(build).write_bytes(_resave_digest(bytes(data)))
    return edit


def _with_digest_flip(build: Path) -> None:
    data = bytearray(_app(build).read_bytes())
    data[-1] ^= 0x01
    _app(build).write_bytes(bytes(data))


def _table_of(entries):
    def edit(build: Path) -> None:
        _table(build).write_bytes(make_partition_table(entries))
    return edit


def _factory(size: int, offset: int = 0x10000):
    return [PartitionEntry("nvs", "data", "nvs", 0x9000, 0x6000),
            PartitionEntry("factory", "app", "factory", offset, size)]


def _md5_flip(build: Path) -> None:
    data = bytearray(_table(build).read_bytes())
    data[4 * 32 + 16] ^= 0x01  # first byte of the MD5 digest (the 5th entry of the default table)
    _table(build).write_bytes(bytes(data))


def _table_cut(length: int):
    def edit(build: Path) -> None:
        _table(build).write_bytes(_table(build).read_bytes()[:length])
    return edit


def _header_flash(size: str):
    def edit(build: Path) -> None:
        _app(build).write_bytes(make_app_image(APP_SIZE, flash_size=size))
    return edit


def _app_chip(chip: str):
    def edit(build: Path) -> None:
        _app(build).write_bytes(make_app_image(APP_SIZE, chip=chip))
    return edit


def _nothing(build: Path) -> None:
    pass


# rule -> (break it, nearest neighbour that passes, words naming what was found, what was wanted)
FIRMWARE_CASES = {
    "chip": (lambda b: _args(b, chip="esp32s2"), lambda b: _args(b, chip="esp32s3"), "ESP32-S2", "ESP32-S3"),
    "images": (lambda b: _args(b, drop="bootloader"), _nothing, "no bootloader image", "bootloader, partition-table, app"),
    "image": (lambda b: _app(b).write_bytes(b"\x00" * APP_SIZE), _nothing, "not an ESP firmware image", "ESP32-S3"),
    "image chip": (_app_chip("esp32c3"), _app_chip("esp32s3"), "ESP32-C3", "ESP32-S3"),
    "image checksum": (_with_checksum(0x01), _with_checksum(0x00), "checksum is", "sums to"),
    "image SHA-256": (_with_digest_flip, _nothing, "it says SHA-256", "its content has"),
    "header flash size": (_header_flash("8MB"), _header_flash("16MB"), "says 8MB", "needs 16MB"),
    "flash size": (lambda b: _args(b, flash_size="8MB"), lambda b: _args(b, flash_size="16MB"),
                   "built for 8MB", "has 16MB"),
    "partition table": (lambda b: _table(b).write_bytes(b"\x12" * 0xC00), _nothing,
                        "not a partition table", "bad entry magic"),
    "table MD5": (_md5_flip, _nothing, "it says MD5", "its entries have"),
    "table length": (_table_cut(0xC00 - 16), _table_cut(0xC00), f"{0xC00 - 16} bytes", f"has {0xC00}"),
    "table layout": (_table_of(default_partitions("32MB")), _table_of(default_partitions("16MB")),
                     "ends at 0x2000000", "16MB flash"),
    "app partition": (_table_of([PartitionEntry("nvs", "data", "nvs", 0x9000, 0x6000)]),
                      _table_of(_factory(0x100000)), "no app partition", "factory or ota app"),
    "app size": (_table_of(_factory(0x8000)), _table_of(_factory(APP_SIZE)), "bytes) does not fit",
                 f"({0x8000} bytes)"),
}
FORCIBLE = {"header flash size", "flash size", "table layout"}


@pytest.fixture
def build(job):
    write_fake_build(job.build_dir, app_size=APP_SIZE)
    assert judge.firmware_problems(firmware.load(job.build_dir), REF) == []  # the reference passes
    return job.build_dir


@pytest.mark.parametrize("rule", FIRMWARE_CASES)
def test_judge_refuses_each_firmware_rule_alone(build, rule):
    breaks, neighbour, found, wanted = FIRMWARE_CASES[rule]
    neighbour(build)
    assert judge.firmware_problems(firmware.load(build), REF) == [], f"neighbour of {rule} refused"
    breaks(build)
    problems = judge.firmware_problems(firmware.load(build), REF)
    assert [p.rule for p in problems] == [rule]
    message = problems[0].message
    assert found in message and wanted in message, message
    assert "\n" not in message
    assert problems[0].forcible == (rule in FORCIBLE)


def _bootloader_at(build: Path, offset: int) -> None:
    path = build / "flasher_args.json"
    data = json.loads(path.read_text())
    data["flash_files"] = {(hex(offset) if rel == "bootloader/bootloader.bin" else at): rel
                           for at, rel in data["flash_files"].items()}
    data["bootloader"]["offset"] = hex(offset)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("step", ["build", "dist", "flash"])
def test_bootloader_goes_where_the_chip_entry_says(job, build, step):
    """The ROM starts the bootloader at one offset (model/chips.toml: 0x0 on the ESP32-S3);
    a build that puts it elsewhere is refused, even with --force (it would not boot)."""
    _bootloader_at(build, 0x0)
    assert judge.firmware_problems(firmware.load(build), REF) == []
    _bootloader_at(build, 0x1000)
    problems = judge.firmware_problems(firmware.load(build), REF)
    assert [(p.rule, p.forcible) for p in problems] == [("bootloader offset", False)]
    with pytest.raises(UserError, match="the bootloader goes to 0x1000; an ESP32-S3 starts it from 0x0"):
        STEPS[step](job)


# the table's layout rules one by one: (table, nearest neighbour, found, wanted)
LAYOUT_CASES = {
    "past the end": (default_partitions("32MB"), default_partitions("16MB"), "vfs ends at 0x2000000", "16MB flash"),
    "overlap": (_factory(0x100000) + [PartitionEntry("vfs", "data", "fat", 0x10F000, 0x100000)],
                _factory(0x100000) + [PartitionEntry("vfs", "data", "fat", 0x110000, 0x100000)],
                "factory and vfs overlap", "overlap"),
    "app alignment": (_factory(0x100000) + [PartitionEntry("ota_0", "app", "ota_0", 0x118000, 0x100000)],
                      _factory(0x100000) + [PartitionEntry("ota_0", "app", "ota_0", 0x120000, 0x100000)],
                      "ota_0 at 0x118000", "64 KB aligned"),
}


@pytest.mark.parametrize("case", LAYOUT_CASES)
def test_table_layout_rules_each_alone(build, case):
    bad, good, found, wanted = LAYOUT_CASES[case]
    _table_of(good)(build)
    assert judge.firmware_problems(firmware.load(build), REF) == []
    _table_of(bad)(build)
    problems = judge.firmware_problems(firmware.load(build), REF)
    assert [p.rule for p in problems] == ["table layout"]
    assert found in problems[0].message and wanted in problems[0].message, problems[0].message


def _build_step(job):
    make.check_images(job)


def _dist_step(job):
    collect.collect(job, job.settings.workdir / "dist")


def _flash_step(job):
    policy.check_firmware(firmware.load(job.build_dir), job.profile)


def _flash_dist_step(job):
    """`flash --firmware DIST`: the folder as load.load gives it (a dist made from the good build,
    then the broken images copied over it and SHA256SUMS made right, as a crafted folder would)."""
    policy.check_firmware(load.load(job.settings.workdir / "dist-good" / f"{PROFILE}-{RELEASE}").firmware,
                          job.profile)


STEPS = {"build": _build_step, "dist": _dist_step, "flash": _flash_step, "flash --firmware": _flash_dist_step}


@pytest.mark.parametrize("rule", [r for r in FIRMWARE_CASES if r not in ("chip", "images")])
@pytest.mark.parametrize("step", STEPS)
def test_every_step_asks_the_judge(job, build, step, rule):
    if step == "flash --firmware":
        folder = collect.collect(job, job.settings.workdir / "dist-good")
        FIRMWARE_CASES[rule][0](build)
        for name, src in (("micropython.bin", _app(build)), ("partition-table.bin", _table(build))):
            (folder / name).write_bytes(src.read_bytes())
        info = json.loads((folder / "build-info.json").read_text())
        info["flash"]["size"] = firmware.load(build).flash_size
        (folder / "build-info.json").write_text(json.dumps(info))
        sums = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n"
                       for p in sorted(folder.iterdir()) if p.name != "SHA256SUMS")
        (folder / "SHA256SUMS").write_text(sums)
    else:
        FIRMWARE_CASES[rule][0](build)
    with pytest.raises(UserError) as refused:
        STEPS[step](job)
    found, wanted = FIRMWARE_CASES[rule][2:]
    assert found in str(refused.value) and wanted in str(refused.value)


@pytest.mark.parametrize("step", ["build", "dist", "flash"])
def test_every_step_refuses_a_build_for_another_chip(job, build, step):
    _args(build, chip="esp32c3")
    with pytest.raises(UserError, match="for an ESP32-C3, not an ESP32-S3"):
        STEPS[step](job)


@pytest.mark.parametrize("rule", sorted(FIRMWARE_CASES))
def test_force_overrides_only_the_flash_size_rules(build, rule):
    FIRMWARE_CASES[rule][0](build)
    fw = firmware.load(build)
    if rule in FORCIBLE:
        policy.check_firmware(fw, REF, force=True)
        with pytest.raises(UserError, match=r"\(or --force\)"):
            policy.check_firmware(fw, REF)
    else:  # a wrong chip or a damaged image even with --force
        with pytest.raises(UserError):
            policy.check_firmware(fw, REF, force=True)


# ---- board vs profile ------------------------------------------------------------------

BOARD = policy.Fingerprint("ESP32-S3", 16 * MB, "quad", 8 * MB, "octal", "aa:bb:cc:dd:ee:ff")

# rule -> (the board, its nearest neighbour that passes, found, wanted)
BOARD_CASES = {
    "chip": (dict(chip="ESP32-C3"), dict(chip="ESP32-S3"), "ESP32-C3", "ESP32-S3"),
    "flash too small": (dict(flash_size=8 * MB), dict(flash_size=16 * MB), "has 8MB", "needs 16MB"),
    "flash type": (dict(flash_type="octal"), dict(flash_type="quad"), "octal flash", "needs quad"),
    "PSRAM missing": (dict(psram_size=0, psram_mode="none"), dict(psram_size=8 * MB), "no PSRAM",
                      "8MB octal PSRAM"),
    "PSRAM too small": (dict(psram_size=4 * MB), dict(psram_size=8 * MB), "4MB octal PSRAM", "8MB octal"),
    "PSRAM mode": (dict(psram_mode="quad"), dict(psram_mode="octal"), "quad PSRAM", "needs octal"),
}


@pytest.mark.parametrize("rule", BOARD_CASES)
def test_board_rules_each_alone(rule):
    bad, good, found, wanted = BOARD_CASES[rule]
    assert judge.board_problems(replace(BOARD, **good), REF) == []
    problems = judge.board_problems(replace(BOARD, **bad), REF)
    assert [p.rule for p in problems] == [rule]
    assert found in problems[0].message and wanted in problems[0].message, problems[0].message
    with pytest.raises(UserError) as refused:  # flash's refusal carries the judge's message
        policy.check_board(replace(BOARD, **bad), REF, "PORT", force=False)
    assert found in str(refused.value) and wanted in str(refused.value)


def test_a_bigger_board_passes():
    assert judge.board_problems(replace(BOARD, flash_size=32 * MB, psram_size=16 * MB), REF) == []


@pytest.mark.parametrize("rule", [r for r in BOARD_CASES if r != "chip"])
def test_force_passes_a_board_of_the_right_chip(rule):
    policy.check_board(replace(BOARD, **BOARD_CASES[rule][0]), REF, "PORT", force=True)


def test_wrong_chip_is_refused_even_with_force():
    with pytest.raises(UserError, match="is an ESP32-C3; profile esp32s3-n16r8 is for an ESP32-S3"):
        policy.check_board(replace(BOARD, chip="ESP32-C3"), REF, "PORT", force=True)


def test_wrong_chip_board_is_refused_with_force_by_flash(build):
    """The real esptool against the ROM peer: --force does not write to another chip."""
    fw = firmware.load(build)
    with MockBoard("esp32c3") as board:
        with pytest.raises(UserError, match="ESP32-C3; profile esp32s3-n16r8 is for an ESP32-S3"):
            device.flash(board.url, fw, REF, transport.Link(before="no-reset", connect_attempts=2),
                         build / "state", transport.Reporter(board.url), force=True)
        assert board.flash.bytes_written == 0


# ---- firmware vs board: every image ends inside the board's flash ---------------------------

def _placed(build: Path, end: int) -> firmware.Firmware:
    """The reference firmware plus an extra image (a filesystem, say) that ends at `end`."""
    extra = build / "extra.bin"
    extra.write_bytes(b"\x00" * 0x1000)
    fw = firmware.load(build)
    return replace(fw, images=fw.images + (firmware.Image(end - 0x1000, extra, "other"),))


def test_image_past_the_end_of_the_boards_flash(build):
    board = replace(BOARD, flash_size=4 * MB)
    assert judge.placement_problems(_placed(build, 4 * MB), board) == []
    problems = judge.placement_problems(_placed(build, 4 * MB + 0x1000), board)
    assert [p.rule for p in problems] == ["image past flash end"]
    assert "ends at 0x401000" in problems[0].message and "4MB flash (0x400000)" in problems[0].message


def test_flash_refuses_an_image_past_the_end_even_with_force(build):
    """The real esptool against a 4MB ROM peer: nothing is written."""
    with MockBoard(flash_size=4 * MB) as board:
        with pytest.raises(UserError, match="past the end of the board's 4MB flash"):
            device.flash(board.url, _placed(build, 4 * MB + 0x1000), REF,
                         transport.Link(before="no-reset", connect_attempts=2), build / "state",
                         transport.Reporter(board.url), force=True)
        assert board.flash.bytes_written == 0


# ---- the saved flash history (state/flashed/<mac>) ---------------------------------------

def test_flash_history_is_used_only_when_whole(tmp_path):
    history = store.Flashed(tmp_path, BOARD.mac)
    history.done({0x10000: b"A" * 4096, 0x8000: b"T" * 3072}, "build")
    assert history.known() == {0x10000: b"A" * 4096, 0x8000: b"T" * 3072}
    (history.dir / "0x10000.bin").write_bytes(b"B" * 4096)  # changed behind mpforge's back
    assert history.known() == {0x8000: b"T" * 3072}
    history.begin("flash")  # an interrupted flash: nothing on the chip is known
    assert history.interrupted() and history.known() == {}


# ---- config: each row of the sdkconfig check ----------------------------------------------

VARIANT_ENTRY = f"boards/{REF.board}/sdkconfig.mpforge_{REF.variant}"
GOOD_VALUES = {
    "ESPTOOLPY_FLASHSIZE": "16MB", "ESPTOOLPY_FLASHMODE_QIO": True, "ESPTOOLPY_OCT_FLASH": False,
    "ESPTOOLPY_FLASHFREQ_80M": True, "SPIRAM": True, "SPIRAM_MODE_OCT": True, "SPIRAM_SPEED_80M": True,
    "ESP_DEFAULT_CPU_FREQ_MHZ": 240, "PARTITION_TABLE_CUSTOM": True,
    "PARTITION_TABLE_CUSTOM_FILENAME": "partitions-4MiBplus.csv", "PARTITION_TABLE_OFFSET": 0x8000,
}
GOOD_CSV = "nvs, data, nvs, 0x9000, 0x6000,\nphy_init, data, phy, 0xf000, 0x1000,\nfactory, app, factory, 0x10000, 0x1F0000,\n"
NAME_DEF = f'MICROPY_HW_BOARD_NAME="{REF.board_name}"'


def _csv(extra: str = "", factory: str = "0x1F0000", nvs: str = "0x6000") -> dict:
    return {"csv": GOOD_CSV.replace("0x1F0000", factory).replace("0x6000", nvs) + extra}


# row -> (what breaks it, its nearest neighbour that passes, found, wanted)
CONFIG_CASES = {
    "CPU MHz": ({"ESP_DEFAULT_CPU_FREQ_MHZ": 160}, {"ESP_DEFAULT_CPU_FREQ_MHZ": 240}, "160", "240"),
    "flash mode": ({"ESPTOOLPY_FLASHMODE_QIO": False, "ESPTOOLPY_FLASHMODE_DIO": True},
                   {"ESPTOOLPY_FLASHMODE_DIO": False}, "DIO", "QIO"),
    "flash size": ({"ESPTOOLPY_FLASHSIZE": "8MB"}, {"ESPTOOLPY_FLASHSIZE": "16MB"}, "8MB", "16MB"),
    "octal flash": ({"ESPTOOLPY_OCT_FLASH": True}, {"ESPTOOLPY_OCT_FLASH": False}, "yes", "no"),
    "flash freq": ({"ESPTOOLPY_FLASHFREQ_80M": False, "ESPTOOLPY_FLASHFREQ_40M": True},
                   {"ESPTOOLPY_FLASHFREQ_40M": False}, "40m", "80m"),
    "PSRAM": ({"SPIRAM": False}, {"SPIRAM": True}, "off", "on"),
    "PSRAM mode": ({"SPIRAM_MODE_OCT": False, "SPIRAM_MODE_QUAD": True}, {"SPIRAM_MODE_QUAD": False},
                   "quad", "octal"),
    "PSRAM speed": ({"SPIRAM_SPEED_80M": False, "SPIRAM_SPEED_40M": True}, {"SPIRAM_SPEED_40M": False},
                    "40m", "80m"),
    "partition table": ({"PARTITION_TABLE_CUSTOM_FILENAME": "partitions-other.csv"}, {},
                        "partitions-other.csv", "partitions-4MiBplus.csv"),
    "partition table offset": ({"PARTITION_TABLE_OFFSET": 0x7000}, {"PARTITION_TABLE_OFFSET": 0x8000},
                               "0x7000", "0x8000"),
    "IDF target": ({"target": "esp32c3"}, {}, "esp32c3", "esp32s3"),
    "board name": ({"def_board": 'MICROPY_HW_BOARD_NAME="Generic ESP32S3"'}, {}, "Generic ESP32S3",
                   REF.board_name),
    "variant defaults last": ({"entries": (VARIANT_ENTRY, "boards/sdkconfig.late")}, {},
                              "boards/sdkconfig.late", VARIANT_ENTRY),
    "partition table valid": (_csv(nvs="0x6001"), _csv(nvs="0x6000"), "nvs and phy_init overlap", "no overlaps"),
    "app partition": (_csv(factory="0x17F000"), _csv(factory="0x180000"), "1.5MB", ">= 1.5MB"),
    "filesystem": (_csv("fs, data, fat, 0x200000, 0x200000,\n"), _csv("fs, data, fat, 0x200000, 0x100000,\n"),
                   "12MB", ">= 13MB"),
}


def _config_report(job, changes: dict):
    values = dict(GOOD_VALUES)
    special = {k: changes[k] for k in ("csv", "def_board", "entries", "target") if k in changes}
    values.update({k: v for k, v in changes.items() if k not in special})
    job.port_dir.mkdir(parents=True, exist_ok=True)
    (job.port_dir / "partitions-4MiBplus.csv").write_text(special.get("csv", GOOD_CSV))
    (job.port_dir / "partitions-other.csv").write_text(GOOD_CSV)
    entries = special.get("entries", ("boards/sdkconfig.base", VARIANT_ENTRY))
    defaults = boardcmake.BoardDefaults(job.port_dir, tuple(entries), (special.get("def_board", NAME_DEF),),
                                        special.get("target", "esp32s3"))
    return configcheck.compare(job, "v5.5.1", defaults, values, [VARIANT_ENTRY])


def test_config_reference_passes_every_row(job):
    report = _config_report(job, {})
    assert report.ok, report.mismatches
    assert {r.setting for r in report.rows} == set(CONFIG_CASES)


@pytest.mark.parametrize("row", CONFIG_CASES)
def test_config_rows_each_alone(job, row):
    bad, good, found, wanted = CONFIG_CASES[row]
    assert _config_report(job, good).ok, _config_report(job, good).mismatches
    report = _config_report(job, bad)
    assert [r.setting for r in report.mismatches] == [row]
    with pytest.raises(UserError) as refused:
        configcheck.finish(job, report, "inputs")
    message = str(refused.value)
    assert f"{row} is " in message and found in message and wanted in message, message


# ---- verify: each row of the board check ---------------------------------------------------

PROBE = {
    "machine": f"{REF.board_name} with ESP32S3", "version": "1.28.0", "uname_version": "v1.28.0 on 2026-01-01",
    "build": f"{REF.board}-{REF.variant}", "flash_size": 16 * MB, "psram_heap": REF.min_psram_heap,
    "psram_source": "idf_heap_info", "fs_size": REF.min_fs_size, "freq": 240_000_000, "errors": {},
}
VERIFY_CASES = {
    "CPU frequency": ({"freq": 160_000_000}, {"freq": 240_000_000}, "160 MHz", "240 MHz"),
    "flash size": ({"flash_size": 8 * MB}, {"flash_size": 16 * MB}, "8 MB", "16 MB"),
    "PSRAM heap": ({"psram_heap": REF.min_psram_heap - 1}, {"psram_heap": REF.min_psram_heap},
                   f"{REF.min_psram_heap - 1} bytes", f"below {REF.min_psram_heap} bytes"),
    "filesystem": ({"fs_size": REF.min_fs_size - 1}, {"fs_size": REF.min_fs_size},
                   f"{REF.min_fs_size - 1} bytes", f"below {REF.min_fs_size} bytes"),
    "board name": ({"machine": "Generic ESP32S3 module with ESP32S3"}, {}, "Generic ESP32S3 module",
                   REF.board_name),
    "release": ({"version": "1.27.0"}, {"version": "1.28.0"}, "1.27.0", "1.28.0"),
    "build id": ({"build": "ESP32_GENERIC_S3-SPIRAM_OCT"}, {}, "ESP32_GENERIC_S3-SPIRAM_OCT", REF.variant),
}


@pytest.mark.parametrize("row", VERIFY_CASES)
def test_verify_rows_each_alone(row):
    bad, good, found, wanted = VERIFY_CASES[row]
    assert not board_checks.failed(board_checks.run_checks(dict(PROBE, **good), REF, RELEASE))
    checks = board_checks.run_checks(dict(PROBE, **bad), REF, RELEASE)
    assert [c.name for c in board_checks.failed(checks)] == [row]
    line = board_checks.summary(checks, port="PORT", profile=REF)
    assert found in line and wanted in line, line


# ---- inputs: the releases file's hashes, the profile's PSRAM heap ------------------------------

@pytest.mark.parametrize("key", ["commit", "idf_commit"])
def test_releases_file_wants_full_hashes(tmp_path, key):
    def write(value: str) -> Path:
        entry = {"commit": "a" * 40, "idf_commit": "b" * 40, key: value}
        path = tmp_path / "releases.toml"
        path.write_text('[[release]]\nversion = "v1.29.0"\nidf = "v5.5.1"\nline = "v1.26"\n'
                        + "".join(f'{k} = "{v}"\n' for k, v in entry.items()))
        return path

    assert releases.table(write("c" * 40))["v1.29.0"].commit in ("a" * 40, "c" * 40)
    for bad in ("c" * 39, "c" * 41, "C" * 40):
        with pytest.raises(UserError) as refused:
            releases.table(write(bad))
        assert f"'{key}' is '{bad}'" in str(refused.value) and "full 40-digit" in str(refused.value)


def test_min_psram_heap_larger_than_the_psram(tmp_path):
    text = REF.path.read_text()
    assert 'min_psram_heap = "6MB"' in text

    def load(heap: str):
        path = tmp_path / "board.toml"
        path.write_text(text.replace('min_psram_heap = "6MB"', f'min_psram_heap = "{heap}"'))
        return profiles.load(str(path))

    assert load("8MB").min_psram_heap == 8 * MB  # all of it: allowed
    with pytest.raises(UserError) as refused:
        load("9MB")
    assert "is 9MB, larger than psram.size 8MB" in str(refused.value)


class _Terminal:
    """A stream that says it is a terminal: what ui renders for one."""

    def isatty(self):
        return True


@pytest.mark.parametrize("width", [80, 120])
def test_every_refusal_wraps_at_spaces_on_a_terminal(build, width, monkeypatch):
    """Each firmware and board refusal above as the task's error line on a terminal of
    `width` columns (ui.terminal_text, what mpforge.cli hands invoke): wrapped at spaces."""
    from conftest import wrapped_at_spaces
    from mpforge import errors, ui

    monkeypatch.setenv("COLUMNS", str(width))
    refusals = []
    for rule, (breaks, _neighbour, _found, _wanted) in FIRMWARE_CASES.items():
        write_fake_build(build, app_size=APP_SIZE)
        breaks(build)
        refusals.append(judge.firmware_problems(firmware.load(build), REF))
    refusals += [judge.board_problems(replace(BOARD, **bad), REF) for bad, *_ in BOARD_CASES.values()]
    long = 0
    for problems in refusals:
        with pytest.raises(UserError) as refused:
            judge.refuse(problems, prefix="flash: /dev/ttyACM0: ")
        text = errors.task_line(refused.value)
        shown = ui.terminal_text(text, _Terminal()).splitlines()
        wrapped_at_spaces(text, shown, width)
        long += len(text) > width
    assert long >= 3
