"""The config step: the board's cmake files run by real CMake, the defaults
resolved by the real kconfgen (esp-idf-kconfig) against the simulated IDF's
small Kconfig tree (tests/fixtures/idf), the partition table checked, and the
result compared with the profile. Bad inputs end in one line.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, one_line_error
from harness.fake_repos import FIXTURES, add_idf_tree
from test_overlay import BOARD, LINES, make_tree

from mpforge.config import boardcmake
from mpforge.config import check as configcheck
from mpforge.build import overlay
from mpforge import ui
from mpforge.build import pipeline
from mpforge.image import partitions
from mpforge.model import lines, profiles, tomllib
from mpforge.model import releases
from mpforge.config import sdkconfig
from mpforge.model import settings
from mpforge.errors import UserError

PROFILES = profiles.available()
MB = 1024 * 1024


def idf_for(tmp_path: Path, tag: str) -> Path:
    dest = tmp_path / f"idf-{tag}"
    if not dest.exists():
        add_idf_tree(dest, tag)
    return dest


def config_job(tmp_path, repo, version, profile="esp32s3-n16r8"):
    """A job on a fixture tree and the simulated IDF, resolving with this Python (idf.python)."""
    release = releases.RELEASES[version]
    s = settings.from_config({"mpforge": {
        "workdir": str(tmp_path / "work"), "micropython": {"dir": str(repo)},
        "idf": {"dir": str(idf_for(tmp_path, release.idf)), "python": sys.executable}}})
    return settings.job(s, profile, version)


# ---- cmake evaluation, every (release line, profile) ------------------------------------

@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("line,version", LINES.items())
def test_cmake_defaults_end_with_the_profiles_settings(tmp_path, line, version, profile):
    repo = make_tree(tmp_path, line)
    job = config_job(tmp_path, repo, version, profile)
    overlay.apply(job)
    defaults = configcheck.board_defaults(job, job.release.idf)
    p = job.profile
    assert defaults.entries[0] == "boards/sdkconfig.base"
    assert defaults.entries[-1] == f"boards/{BOARD.rsplit('/', 1)[1]}/sdkconfig.mpforge_{p.variant}"
    board_snippet = "boards/sdkconfig.flash_qio_80m" if line == "v1.29" else "boards/ESP32_GENERIC_S3/sdkconfig.board"
    assert board_snippet in defaults.entries[:-1]  # the flash mode snippet: the board's up to v1.28, shared from v1.29
    assert defaults.board_name == p.board_name and defaults.target == "esp32s3"
    last = defaults.files[-1].read_text()
    port_csv = tomllib.loads((ROOT / "overlays" / line / "overlay.toml").read_text())["partitions"][p.flash_size_label]
    csv = f"boards/ESP32_GENERIC_S3/partitions-mpforge_{p.variant}.csv" if p.partitions else port_csv
    for setting in (f"CONFIG_ESPTOOLPY_FLASHSIZE_{p.flash_size_label}=y", f'_FILENAME="{csv}"',
                    f"CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ={p.cpu_mhz}"):
        assert setting in last


@pytest.mark.parametrize("line,version", [("v1.24", "v1.24.1"), ("v1.26", "v1.28.0")])
def test_unknown_variant_stops_like_the_port_from_v124(tmp_path, line, version):
    job = config_job(tmp_path, make_tree(tmp_path, line), version)  # no overlay
    with pytest.raises(UserError, match="Invalid MICROPY_BOARD_VARIANT specified: FLASH_16M_SPIRAM_OCT"):
        configcheck.board_defaults(job, job.release.idf)


def test_unknown_variant_is_ignored_in_v122_and_config_says_so(tmp_path):
    job = config_job(tmp_path, make_tree(tmp_path, "v1.22"), "v1.23.0")  # no overlay: the port builds the base board
    defaults = configcheck.board_defaults(job, job.release.idf)
    assert not any("mpforge" in e for e in defaults.entries)
    report = configcheck.check(job)
    bad = {r.setting: r.got for r in report.mismatches}
    assert bad["variant defaults last"] == "boards/ESP32_GENERIC_S3/sdkconfig.board"
    assert bad["flash size"] == "8MB" and bad["board name"].endswith("(mpconfigboard.h)")
    assert bad["partition table"] == "partitions-8MiB.csv"


def test_idf52_snippet_only_with_idf_52_or_newer(tmp_path):
    repo = make_tree(tmp_path, "v1.24")
    (repo / "ports/esp32/boards/sdkconfig.idf52").write_text("CONFIG_FREERTOS_TASK_PRE_DELETION_HOOK=y\n")
    port = repo / "ports/esp32"
    new = boardcmake.evaluate(port, "ESP32_GENERIC_S3", "", check_variant=True, idf_version="v5.2.2")
    old = boardcmake.evaluate(port, "ESP32_GENERIC_S3", "", check_variant=True, idf_version="v5.0.4")
    assert new.entries[:2] == ("boards/sdkconfig.base", "boards/sdkconfig.idf52")
    assert "boards/sdkconfig.idf52" not in old.entries


def test_cmake_missing_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(boardcmake.shutil, "which", lambda *a, **k: None)
    monkeypatch.setattr(boardcmake.sys, "executable", str(tmp_path / "python"))
    with pytest.raises(UserError, match="cmake is not installed"):
        boardcmake.cmake_program()


# ---- kconfgen, for real, on a Kconfig tree made here --------------------------------------

def small_idf(tmp_path) -> Path:
    idf = tmp_path / "small-idf"
    (idf / "components/flash").mkdir(parents=True)
    (idf / "tools/kconfig_new").mkdir(parents=True)
    (idf / "Kconfig").write_text('mainmenu "test"\nsource "$COMPONENT_KCONFIGS_PROJBUILD_SOURCE_FILE"\n'
                                 'source "$COMPONENT_KCONFIGS_SOURCE_FILE"\n')
    (idf / "sdkconfig.rename").write_text("")
    (idf / "components/flash/Kconfig.projbuild").write_text("""
choice ESPTOOLPY_FLASHSIZE
    prompt "Flash size"
    default ESPTOOLPY_FLASHSIZE_2MB
    config ESPTOOLPY_FLASHSIZE_2MB
        bool "2MB"
    config ESPTOOLPY_FLASHSIZE_4MB
        bool "4MB"
    config ESPTOOLPY_FLASHSIZE_16MB
        bool "16MB"
endchoice
config ESPTOOLPY_FLASHSIZE
    string
    default "2MB" if ESPTOOLPY_FLASHSIZE_2MB
    default "4MB" if ESPTOOLPY_FLASHSIZE_4MB
    default "16MB" if ESPTOOLPY_FLASHSIZE_16MB
config SPIRAM
    bool "PSRAM"
""")
    shutil.copy(FIXTURES / "idf/tools/kconfig_new/prepare_kconfig_files.py", idf / "tools/kconfig_new")
    return idf


def test_kconfgen_later_default_wins(tmp_path):
    idf = small_idf(tmp_path)
    four, sixteen = tmp_path / "four", tmp_path / "sixteen"
    four.write_text("CONFIG_ESPTOOLPY_FLASHSIZE_4MB=y\nCONFIG_SPIRAM=y\n")
    sixteen.write_text("CONFIG_ESPTOOLPY_FLASHSIZE_16MB=y\nCONFIG_ESPTOOLPY_FLASHSIZE_4MB=\n")
    forward = sdkconfig.resolve(idf, "v5.5.1", [four, sixteen], sys.executable)
    backward = sdkconfig.resolve(idf, "v5.5.1", [sixteen, four], sys.executable)
    assert forward.values["ESPTOOLPY_FLASHSIZE"] == "16MB" and forward.values["SPIRAM"] is True
    assert backward.values["ESPTOOLPY_FLASHSIZE"] == "4MB"
    assert forward.combined == four.read_text() + sixteen.read_text()  # concatenated, as the port does
    assert forward.warnings == ()
    (tmp_path / "typo").write_text("CONFIG_SPIRAMM=y\n")
    typo = sdkconfig.resolve(idf, "v5.5.1", [tmp_path / "typo"], sys.executable)
    assert any("SPIRAMM" in w for w in typo.warnings)


def test_kconfgen_result_that_does_not_match_is_reported(tmp_path):
    idf = small_idf(tmp_path)
    four = tmp_path / "four"
    four.write_text("CONFIG_ESPTOOLPY_FLASHSIZE_4MB=y\n")
    values = sdkconfig.resolve(idf, "v5.5.1", [four], sys.executable).values
    job = config_job(tmp_path, tmp_path / "nowhere", "v1.28.0")
    defaults = boardcmake.BoardDefaults(tmp_path, ("four",), (), "esp32s3")
    report = configcheck.compare(job, "v5.5.1", defaults, values, ["four"])
    bad = {r.setting: (r.got, r.want) for r in report.mismatches}
    assert bad["flash size"] == ("4MB", "16MB")
    assert bad["PSRAM"] == ("off", "on")
    assert not report.ok
    with pytest.raises(UserError, match=r"flash size is 4MB, want 16MB"):
        configcheck.finish(job, report, "inputs")


def test_kconfgen_failure_is_one_line(tmp_path):
    idf = small_idf(tmp_path)
    (idf / "components/flash/Kconfig.projbuild").write_text("config BROKEN\n    bool\n    default y if (\n")
    (tmp_path / "d").write_text("")
    with pytest.raises(UserError, match="kconfgen failed"):
        sdkconfig.resolve(idf, "v5.5.1", [tmp_path / "d"], sys.executable)


# ---- the whole check on each line's fixture tree and the simulated IDF -------------------

@pytest.mark.parametrize("line,version", LINES.items())
def test_check_matches_after_overlay(tmp_path, line, version):
    repo = make_tree(tmp_path, line)
    job = config_job(tmp_path, repo, version, "esp32s3-n16r8v")
    overlay.apply(job)
    report = configcheck.check(job)
    assert report.ok, report.mismatches
    rows = {r.setting: r.got for r in report.rows}
    assert rows["flash mode"] == "OPI" and rows["octal flash"] == "yes" and rows["PSRAM mode"] == "octal"
    if line in ("v1.26", "v1.29"):
        assert report.filesystem["size"] == 14 * MB and "made at boot" in report.filesystem["source"]
    else:
        assert report.filesystem == {"size": 14 * MB, "source": "partition vfs", "min": 13 * MB}
    assert [p["label"] for p in report.partitions][:3] == ["nvs", "phy_init", "factory"]


def test_partition_table_larger_than_the_flash(tmp_path, monkeypatch):
    """A 4 MB profile whose line maps it to the 8 MiB table: the table does not fit."""
    overlays = tmp_path / "overlays"
    shutil.copytree(ROOT / "overlays", overlays)
    spec = overlays / "v1.24/overlay.toml"
    spec.write_text(spec.read_text().replace('"4MB" = "partitions-4MiB.csv"', '"4MB" = "partitions-8MiB.csv"'))
    monkeypatch.setattr(lines, "OVERLAYS_DIR", overlays)
    job = config_job(tmp_path, make_tree(tmp_path, "v1.24"), "v1.24.1", "esp32s3-n4")
    overlay.apply(job)
    report = configcheck.check(job)
    bad = {r.setting: r.got for r in report.mismatches}
    assert list(bad) == ["partition table valid"]
    assert bad["partition table valid"] == "partition vfs ends at 0x800000, past the 4MB flash"


def test_app_partition_too_small_and_no_vfs_before_v126(tmp_path):
    repo = make_tree(tmp_path, "v1.24")
    job = config_job(tmp_path, repo, "v1.24.1")
    overlay.apply(job)
    (repo / "ports/esp32/partitions-16MiB.csv").write_text(
        "nvs, data, nvs, 0x9000, 0x6000,\nfactory, app, factory, 0x10000, 1M,\n")
    bad = {r.setting: r.got for r in configcheck.check(job).mismatches}
    assert bad == {"app partition": "factory 1MB", "filesystem": "0MB (no vfs partition)"}


def test_csv_parser():
    table = partitions.parse_csv("# Name, Type, SubType, Offset, Size\n"
                                 "nvs, data, nvs, , 24K\nphy_init, data, phy, , 4K\n"
                                 "factory, app, factory, , 0x1F0000\nvfs, data, fat, 2M, 14M, readonly\n")
    assert [(p.label, p.type, p.subtype, p.offset, p.size) for p in table] == [
        ("nvs", 1, 2, 0x9000, 0x6000), ("phy_init", 1, 1, 0xF000, 0x1000),
        ("factory", 0, 0, 0x10000, 0x1F0000), ("vfs", 1, 0x81, 0x200000, 0xE00000)]
    assert partitions.filesystem(table).label == "vfs"
    assert partitions.problems(table, 16 * MB) == []
    with pytest.raises(ValueError, match="line 2: unknown type 'dat'"):
        partitions.parse_csv("nvs, data, nvs, 0x9000, 0x6000\nx, dat, nvs, , 4K\n")


def test_config_stamp_skips_kconfgen_until_an_input_changes(tmp_path, capsys, monkeypatch):
    repo = make_tree(tmp_path, "v1.26")
    job = config_job(tmp_path, repo, "v1.28.0")
    overlay.apply(job)
    ui.step_results(pipeline.run_step(job, "config"))
    assert "ok  flash size" in capsys.readouterr().out
    calls = []
    monkeypatch.setattr(configcheck.sdkconfig, "resolve", lambda *a, **k: calls.append(a))
    ui.step_results(pipeline.run_step(job, "config"))
    assert capsys.readouterr().out.strip().endswith("up to date") and calls == []
    monkeypatch.undo()
    board = repo / "ports/esp32/boards/ESP32_GENERIC_S3/sdkconfig.board"
    board.write_text(board.read_text() + "CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ_160=y\n")  # an input changed
    ui.step_results(pipeline.run_step(job, "config"))  # resolved again; the variant's file comes later and still wins
    out = capsys.readouterr().out
    assert "up to date" not in out and "ok  CPU MHz" in out


# ---- every (release, profile) pair has a complete overlay ----------------------------------

@pytest.mark.parametrize("version", list(releases.RELEASES))
def test_every_pair_has_a_complete_overlay(version):
    s = settings.from_config({"mpforge": {"workdir": "/nonexistent"}})
    spec = overlay.line_spec(releases.RELEASES[version].line)
    for name in PROFILES:
        job = settings.job(s, name, version)
        rendered = overlay.render(job)
        p = job.profile
        expected = {t.replace("@VARIANT@", p.variant) for t in spec["files"]}
        if p.partitions:  # the variant's own table
            expected.add(f"partitions-mpforge_{p.variant}.csv")
        assert set(rendered.files) == expected
        assert set(rendered.edits) == set(spec.get("edit", {}))
        for text in [*rendered.files, *rendered.files.values(), *rendered.edits.values()]:
            assert not re.search(r"@[A-Z_]+@", text), (version, name)
        assert p.flash_size_label in spec["partitions"]


# ---- the task, through invoke, with the session's repositories -----------------------------

def config_row(out: str, mark: str, setting: str, want: str, got: str):
    """A setting's row in config's table, in any of its layouts (ui/tables.py pairs): on one
    line, or with want and got one under the other, labelled."""
    return re.search(rf"{mark} +{setting}\s+(want\s+)?{re.escape(want)}\s+(got\s+)?{re.escape(got)}", out)


@pytest.mark.parametrize("columns", [80, 200])
def test_config_task_table_and_json(mp, columns):
    result = mp("config", env={"COLUMNS": str(columns)})
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    report = out[out.index("config: esp32s3-n16r8 @"):out.index("config: resolved")]  # the table
    assert [line for line in report.splitlines() if len(line) > columns] == [], report
    assert config_row(out, "ok", "flash size", "16MB", "16MB"), out
    assert config_row(out, "ok", "filesystem", ">= 13MB", "14MB (made at boot"), out
    if columns == 200:  # room for a row a line, the sdkconfig's paths whole
        assert re.search(r"ok +flash size +16MB +16MB\n", out)
        assert "boards/ESP32_GENERIC_S3/sdkconfig.mpforge_FLASH_16M_SPIRAM_OCT  boards/" in out
    assert "config: resolved sdkconfig matches esp32s3-n16r8" in out
    as_json = mp("config", "--json", "--profile", "esp32s3-n8r2")
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)  # stdout is only the JSON
    assert report["ok"] is True and report["release"] == "v1.28.0" and report["idf"] == "v5.5.1"
    assert report["defaults"][-1] == "boards/ESP32_GENERIC_S3/sdkconfig.mpforge_FLASH_8M_SPIRAM_QUAD"
    got = {r["setting"]: r["got"] for r in report["settings"]}
    assert got["PSRAM mode"] == "quad" and got["flash size"] == "8MB" and got["partition table"] == "partitions-4MiBplus.csv"
    assert report["filesystem"]["size"] == 6 * MB


def test_build_refuses_a_config_that_does_not_match(mp, tmp_path):
    """Octal PSRAM at 120 MHz: the IDF's Kconfig allows 120M only for quad PSRAM, so kconfgen drops the
    choice and the speed falls back to the Kconfig default, 40 MHz; nothing would tell at build time."""
    profile = tmp_path / "fast.toml"
    profile.write_text((ROOT / "boards/esp32s3-n16r8.toml").read_text().replace('speed = "80m"', 'speed = "120m"'))
    result = mp("build", "--profile", str(profile), env={"SIM_BUILD_LOG": str(tmp_path / "builds.log")})
    line = one_line_error(result)
    assert "config: the resolved sdkconfig does not match profile fast" in line
    assert "PSRAM speed is 40m, want 120m" in line
    assert config_row(result.stdout, "BAD", "PSRAM speed", "120m", "40m"), result.stdout
    assert not (tmp_path / "builds.log").exists()  # the build never started


def test_unknown_release_lists_supported(mp):
    for task in ("config", "overlay"):
        line = one_line_error(mp(task, "--micropython", "v1.19.1"))
        assert "unknown MicroPython release 'v1.19.1'; supported: v1.22.2" in line and "v1.28.0" in line


def test_unknown_profile(mp):
    line = one_line_error(mp("config", "--profile", "esp32s3-n64"))
    assert "unknown profile 'esp32s3-n64'; available: esp32s3-n16r8" in line


def test_profile_flash_smaller_than_the_partition_tables(mp, tmp_path):
    profile = tmp_path / "tiny.toml"
    text = (ROOT / "boards/esp32s3-n4.toml").read_text().replace('size = "4MB"', 'size = "2MB"')
    profile.write_text(text.replace('min_fs_size = "1.5MB"', 'min_fs_size = "512KB"'))
    line = one_line_error(mp("config", "--profile", str(profile), "--micropython", "v1.24.1"))
    assert ("profile tiny has 2MB flash, smaller than the partition tables of micropython v1.24.1 need "
            "(the smallest, partitions-4MiB.csv, is for 4MB flash)") in line


def test_overlay_file_missing_for_a_pair(mp, tmp_path):
    overlays = tmp_path / "overlays"
    shutil.copytree(ROOT / "overlays", overlays)
    (overlays / "v1.26/sdkconfig.in").unlink()
    code = ("import sys; from pathlib import Path; import mpforge.model.lines as o; o.OVERLAYS_DIR = Path(sys.argv.pop(1)); "
            "from invoke.main import program; program.run()")
    result = subprocess.run([sys.executable, "-c", code, str(overlays), "config"], cwd=ROOT, env=mp.env,
                            capture_output=True, text=True, timeout=300)
    line = one_line_error(result)
    assert "overlay: overlay file overlays/v1.26/sdkconfig.in is missing (needed for esp32s3-n16r8 on v1.28.0)" in line


def test_idf_too_old_for_the_release(mp):
    line = one_line_error(mp("config", env={"INVOKE_MPFORGE_IDF_VERSION": "v5.2.2"}))
    assert "micropython v1.28.0 needs ESP-IDF v5.5.1 or newer" in line
