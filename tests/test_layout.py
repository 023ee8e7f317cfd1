"""Partition layouts ([partitions] in a profile): the table rendered for every
release line, read back with mpforge's own CSV reader and checked with the
rules config, build and flash use; the overlay placing it; the config check
refusing bad tables; bad profile input ending in one line.

No ESP-IDF here: gen_esp32part.py reads the same tables in the upstream tier
(tests/test_upstream.py), where config runs against real IDF trees.
"""

from __future__ import annotations

import json
import sys

import pytest
from conftest import one_line_error
from harness.fake_repos import FIXTURES
from test_overlay import BOARD, LINES, make_tree

from mpforge.build import overlay
from mpforge.config import check as configcheck
from mpforge.errors import UserError
from mpforge.image import layout, partitions
from mpforge.image.partitions import APP
from mpforge.model import profiles, releases, settings
from test_profiles import GOOD
from harness.repl_peer import repl_peers  # noqa: F401  (fixture)

MB = 1024 * 1024
LAYOUTS = {
    "default": layout.DEFAULT,
    "4MB app, OTA": layout.Layout(app=4 * MB, ota=True),
    "3MB app, 2MB fs": layout.Layout(app=3 * MB, fs=2 * MB),
    "OTA, 1MB fs": layout.Layout(app=2 * MB, ota=True, fs=1 * MB),
}


def facts(line: str) -> dict:
    return overlay.line_spec(line)["layout"]


# Every (release line, layout, flash) that fits (two 4 MB slots do not fit 8 MB:
# refused on load, see test_bad_partitions_section_is_one_line).
CASES = [(line, name, flash) for line in LINES for name in LAYOUTS for flash in (8 * MB, 16 * MB, 32 * MB)
         if layout.app_end(LAYOUTS[name]) < flash]


@pytest.mark.parametrize("line,name,flash", CASES)
def test_rendered_table_reads_back_and_passes_the_checks(line, name, flash):
    lay = LAYOUTS[name]
    text = layout.render(lay, flash, facts(line), "test")
    table = partitions.parse_csv(text)
    assert table == layout.plan(lay, flash, facts(line)["fs_made_at_boot"])
    assert partitions.problems(table, flash) == []
    assert table[0].label == "nvs" and table[0].offset == 0x9000  # makeimg.py measures the table's room to nvs
    apps = [p for p in table if p.type == APP]
    assert apps[0].offset == 0x10000 and all(p.offset % 0x10000 == 0 and p.size == lay.app for p in apps)
    assert len(apps) == (2 if lay.ota else 1)
    assert ("otadata" in [p.label for p in table]) == lay.ota
    vfs = partitions.filesystem(table)
    if lay.fs is None and facts(line)["fs_made_at_boot"]:
        assert vfs is None  # v1.26+: the firmware makes it to the end of the real flash
    else:
        assert vfs is not None and vfs.end <= flash
        assert vfs.size == (lay.fs if lay.fs is not None else flash - vfs.offset)
    made_at_boot = facts(line)["fs_made_at_boot"]
    rows = layout.check(table, flash, 1 * MB, made_at_boot, built_app=1_700_000)
    assert all(ok for *_, ok in rows), rows
    size, _where = layout.filesystem_size(table, flash, made_at_boot)
    assert size == (lay.fs if lay.fs is not None else flash - layout.app_end(lay))


@pytest.mark.parametrize("line,csv", [("v1.22", "partitions-16MiB.csv"), ("v1.24", "partitions-16MiB.csv"),
                                      ("v1.26", "partitions-4MiBplus.csv"), ("v1.29", "partitions-4MiBplus.csv")])
def test_default_plan_is_the_ports_own_table(line, csv):
    """Without [partitions] the layout is the port's: the plan of DEFAULT equals its CSV."""
    port_csv = FIXTURES / "port" / line / "ports/esp32" / csv
    if not port_csv.exists():
        port_csv = FIXTURES / "port/common/ports/esp32" / csv
    table = partitions.parse_csv(port_csv.read_text())
    assert layout.plan(layout.DEFAULT, 16 * MB, facts(line)["fs_made_at_boot"]) == table


def test_check_refuses_overflow_small_app_and_unequal_slots():
    flash = 8 * MB
    over = [partitions.Partition("nvs", 1, 2, 0x9000, 0x6000),
            partitions.Partition("factory", APP, 0, 0x10000, 0x1F0000),
            partitions.Partition("vfs", 1, 0x81, 0x200000, 0x700000)]
    rows = {r[0]: r for r in layout.check(over, flash, MB, False)}
    assert rows["partition table valid"][3] is False and "past the 8MB flash" in rows["partition table valid"][2]

    fits = over[:2] + [partitions.Partition("vfs", 1, 0x81, 0x200000, 0x600000)]
    rows = {r[0]: r for r in layout.check(fits, flash, MB, False, built_app=0x1F0000 - 0x8000)}
    assert rows["app partition"][3] is False  # fits, but without the 64 KB margin
    assert "margin" in rows["app partition"][1]
    rows = {r[0]: r for r in layout.check(fits, flash, MB, False, built_app=0x1F0000 - layout.APP_MARGIN)}
    assert rows["app partition"][3] is True

    unequal = [partitions.Partition("nvs", 1, 2, 0x9000, 0x4000),
               partitions.Partition("otadata", 1, 0, 0xD000, 0x2000),
               partitions.Partition("ota_0", APP, 0x10, 0x10000, 0x200000),
               partitions.Partition("ota_1", APP, 0x11, 0x210000, 0x1F0000),
               partitions.Partition("vfs", 1, 0x81, 0x410000, 0x3F0000)]
    rows = {r[0]: r for r in layout.check(unequal, flash, MB, False)}
    assert rows["OTA slots"][3] is False and "ota_1 1.9MB" in rows["OTA slots"][2]
    equal = unequal[:3] + [partitions.Partition("ota_1", APP, 0x11, 0x210000, 0x200000)] + unequal[4:]
    assert all(ok for *_, ok in layout.check(equal, flash, MB, False))


def test_app_goes_to_the_slot_at_its_offset(tmp_path):
    """The judge (build, dist, flash) measures the app against the slot at its own offset."""
    from mpforge.image import judge

    table = layout.plan(layout.Layout(app=2 * MB, ota=True), 8 * MB)
    app = tmp_path / "micropython.bin"
    app.write_bytes(b"\0" * (2 * MB))
    assert judge.app_problems(app, table, 0x10000) == []
    assert judge.app_problems(app, table, 0x210000) == []  # ota_1
    app.write_bytes(b"\0" * (2 * MB + 1))
    assert "does not fit its partition ota_0" in judge.app_problems(app, table, 0x10000)[0].message
    assert "no app partition at 0x20000" in judge.app_problems(app, table, 0x20000)[0].message


# ---- the profile's section: bad input is one line ---------------------------------------

def profile_text(section: str, flash="16MB", min_fs="1MB") -> str:
    text = GOOD.replace('size = "16MB"', f'size = "{flash}"', 1).replace('min_fs_size = "13MB"', f'min_fs_size = "{min_fs}"')
    return text + "[partitions]\n" + section


@pytest.mark.parametrize("section,flash,message", [
    ('app = "8MB"\nota = true\n', "16MB", "[partitions] needs 16.1MB for two app slots of 8MB, more than the 16MB flash"),
    ('app = "2000KB"\n', "16MB", "'partitions.app' is 0x1f4000 bytes, not a multiple of 64 KB"),
    ('ota = true\n', "4MB", "leaves 64KB for the filesystem after two app slots of 1.9MB, below verify.min_fs_size 1MB"),
    ('app = "2MB"\nota = true\n', "4MB", "needs 4.1MB for two app slots of 2MB, more than the 4MB flash"),
    ('app = "3MB"\nfs = "14MB"\n', "16MB", "'partitions.fs' is 14MB, but the app leave"),
    ('app = "1MB"\n', "16MB", "MicroPython needs at least 1.5MB"),
    ('csv = "nope.csv"\n', "16MB", "'partitions.csv' names"),
    ('csv = "t.csv"\nota = true\n', "16MB", "'partitions.csv' is the whole table; drop 'partitions.ota'"),
    ('ota = "yes"\n', "16MB", "'partitions.ota' must be a bool"),
    ('size = "4MB"\n', "16MB", "unknown key 'partitions.size'"),
])
def test_bad_partitions_section_is_one_line(tmp_path, section, flash, message):
    path = tmp_path / "myboard.toml"
    path.write_text(profile_text(section, flash))
    with pytest.raises(UserError) as err:
        profiles.load(str(path))
    text = str(err.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text


def test_own_csv_must_be_in_the_profiles_folder(tmp_path):
    """A profile from someone else names no file of yours elsewhere: not ../, not an absolute
    path, not a link out of the folder (each outside file exists and is a good table)."""
    good = "nvs, data, nvs, 0x9000, 0x6000,\nfactory, app, factory, 0x10000, 0x1F0000,\n"
    (tmp_path / "outside.csv").write_text(good)
    folder = tmp_path / "boards"
    folder.mkdir()
    (folder / "link.csv").symlink_to(tmp_path / "outside.csv")
    path = folder / "myboard.toml"
    for name in ("../outside.csv", str(tmp_path / "outside.csv"), "link.csv"):
        path.write_text(profile_text(f'csv = "{name}"\n'))
        with pytest.raises(UserError, match="must name a file in the profile's folder"):
            profiles.load(str(path))
    (folder / "mine.csv").write_text(good)
    path.write_text(profile_text('csv = "mine.csv"\n'))
    assert profiles.load(str(path)).partitions.csv == folder / "mine.csv"


def test_own_csv_that_does_not_parse_names_the_line(tmp_path):
    (tmp_path / "t.csv").write_text("# mine\nnvs, data, nvs, 0x9000, 0x6000,\nfactory, app, factory, 0x10000, lots,\n")
    path = tmp_path / "myboard.toml"
    path.write_text(profile_text('csv = "t.csv"\n'))
    with pytest.raises(UserError, match=r"'partitions.csv' t.csv: line 3: invalid literal"):
        profiles.load(str(path))
    (tmp_path / "t.csv").write_text("nvs, data, nvs, 0x9000, 0x6000,\nfactory, app, factory, 0x10000, 0x1F0000,\n"
                                    "vfs, data, fat, 0x200000, 0x1000000,\n")
    with pytest.raises(UserError, match=r"t.csv: partition vfs ends at 0x1200000, past the 16MB flash"):
        profiles.load(str(path))


def test_bad_layout_through_the_cli_is_one_line(tmp_path, invoke_run):
    path = tmp_path / "big.toml"
    path.write_text(profile_text('app = "8MB"\nota = true\n'))
    line = one_line_error(invoke_run("overlay", "--profile", str(path)))
    assert "more than the 16MB flash" in line


# ---- the overlay places the table; config checks it ---------------------------------------

@pytest.mark.parametrize("line,version", LINES.items())
def test_overlay_places_the_variants_table_and_points_sdkconfig_at_it(tmp_path, line, version):
    repo = make_tree(tmp_path, line)
    s = settings.from_config({"mpforge": {"workdir": str(tmp_path / "work"), "micropython": {"dir": str(repo)}}})
    job = settings.job(s, "esp32s3-n16r8-ota", version)
    port_tables = {p.name: p.read_bytes() for p in (repo / "ports/esp32").glob("partitions*.csv")}
    overlay.apply(job)
    placed = repo / BOARD / "partitions-mpforge_FLASH_16M_SPIRAM_OCT_OTA.csv"
    table = partitions.parse_csv(placed.read_text())
    assert [(p.label, p.offset, p.size) for p in table if p.type == APP] == [
        ("ota_0", 0x10000, 4 * MB), ("ota_1", 0x410000, 4 * MB)]
    assert (partitions.filesystem(table) is None) == (line in ("v1.26", "v1.29"))
    snippet = (repo / BOARD / "sdkconfig.mpforge_FLASH_16M_SPIRAM_OCT_OTA").read_text()
    assert ('CONFIG_PARTITION_TABLE_CUSTOM_FILENAME="boards/ESP32_GENERIC_S3/'
            'partitions-mpforge_FLASH_16M_SPIRAM_OCT_OTA.csv"') in snippet
    assert {p.name: p.read_bytes() for p in (repo / "ports/esp32").glob("partitions*.csv")} == port_tables
    overlay.revert(job)
    assert not placed.exists()


def config_job(tmp_path, repo, version, profile):
    from test_config import idf_for

    release = releases.RELEASES[version]
    s = settings.from_config({"mpforge": {
        "workdir": str(tmp_path / "work"), "micropython": {"dir": str(repo)},
        "idf": {"dir": str(idf_for(tmp_path, release.idf)), "python": sys.executable}}})
    return settings.job(s, profile, version)


def test_config_checks_the_ota_layout_and_refuses_unequal_slots(tmp_path):
    repo = make_tree(tmp_path, "v1.26")
    job = config_job(tmp_path, repo, "v1.28.0", "esp32s3-n16r8-ota")
    overlay.apply(job)
    report = configcheck.check(job)
    rows = {r.setting: r for r in report.rows}
    assert report.ok, [r for r in report.rows if not r.ok]
    assert rows["OTA slots"].got == "ota_0 4MB, ota_1 4MB"
    assert rows["filesystem"].got.startswith("7.9MB (made at boot")
    assert report.layout["ota"] is True and report.layout["app"] == 4 * MB

    # A built app too big for a 4 MB slot with the margin: config says so.
    job.build_dir.mkdir(parents=True)
    (job.build_dir / "micropython.bin").write_bytes(b"\xff" * (4 * MB - 0x8000))
    rows = {r.setting: r for r in configcheck.check(job).rows}
    assert not rows["app partition"].ok and "margin" in rows["app partition"].want

    (job.build_dir / "micropython.bin").unlink()
    own = tmp_path / "boards"
    own.mkdir()
    (own / "uneven.csv").write_text("nvs, data, nvs, 0x9000, 0x4000,\notadata, data, ota, 0xd000, 0x2000,\n"
                                    "ota_0, app, ota_0, 0x10000, 0x300000,\nota_1, app, ota_1, 0x310000, 0x200000,\n"
                                    "vfs, data, fat, 0x510000, 0xAF0000,\n")
    text = (profiles.BOARDS_DIR / "esp32s3-n16r8-ota.toml").read_text()
    (own / "uneven.toml").write_text(text.replace('app = "4MB"\nota = true\nfs = "rest"', 'csv = "uneven.csv"'))
    s = settings.from_config({"mpforge": {"workdir": str(tmp_path / "work"), "micropython": {"dir": str(repo)},
                                          "idf": {"dir": str(job.idf_dir), "python": sys.executable}}})
    uneven = settings.job(s, str(own / "uneven.toml"), "v1.28.0")
    overlay.apply(uneven)
    report = configcheck.check(uneven)
    bad = {r.setting for r in report.mismatches}
    assert bad == {"OTA slots"}, report.mismatches


def test_config_json_shows_the_layout(mp):
    result = mp("config", "--json", "--profile", "esp32s3-n16r8-ota")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    got = {r["setting"]: r for r in report["settings"]}
    assert got["partition table"]["got"] == "boards/ESP32_GENERIC_S3/partitions-mpforge_FLASH_16M_SPIRAM_OCT_OTA.csv"
    assert got["OTA slots"]["ok"] is True
    assert [p["label"] for p in report["partitions"]] == ["nvs", "otadata", "phy_init", "ota_0", "ota_1"]
    assert report["layout"] == {"app": 4 * MB, "ota": True, "fs": "rest", "built_app": None,
                                "app_margin": layout.APP_MARGIN}


# ---- verify: the board's partitions (esp32.Partition) against the layout ----------------

OTA = profiles.load("esp32s3-n16r8-ota")
REF = profiles.load("esp32s3-n16r8")
DEFAULT_PARTS = {"running": [0, 0, 0x10000, 0x1F0000, "factory"], "apps": [[0, 0, 0x10000, 0x1F0000, "factory"]],
                 "fs": [1, 0x81, 0x200000, 14 * MB, "vfs"]}
OTA_PARTS = {"running": [0, 0x11, 0x410000, 4 * MB, "ota_1"],
             "apps": [[0, 0x10, 0x10000, 4 * MB, "ota_0"], [0, 0x11, 0x410000, 4 * MB, "ota_1"]],
             "fs": [1, 0x81, 0x810000, 16 * MB - 0x810000, "vfs"]}


def partition_rows(parts, profile, release="v1.28.0"):
    from mpforge.board import checks as board_checks

    return {c.name: c for c in board_checks.check_partitions({"partitions": parts, "errors": {}}, profile, release)}


def test_verify_partition_rows_of_a_release_mpforge_does_not_know():
    """A dist built from a releases_file release: its layout facts are unknown here, so the
    partition rows say so and count neither way (verify --firmware goes on)."""
    rows = partition_rows(DEFAULT_PARTS, REF, "v9.9.9")
    assert {c.passed for c in rows.values()} == {None}
    assert rows["fs partition"].found == "release v9.9.9 unknown to mpforge"


def test_verify_partition_rows_match_and_mismatch():
    rows = partition_rows(OTA_PARTS, OTA)
    assert all(c.passed for c in rows.values()), rows
    assert rows["running partition"].found == "ota_1 4MB @0x410000"
    assert rows["app partitions"].expected == "ota_0 4MB @0x10000, ota_1 4MB @0x410000"
    assert rows["fs partition"].expected == "vfs 7.9MB @0x810000"  # v1.26+: made at boot to the end
    assert all(c.passed for c in partition_rows(DEFAULT_PARTS, REF).values())
    assert all(c.passed for c in partition_rows(DEFAULT_PARTS, REF, "v1.24.1").values())  # the port's 16MiB table

    wrong = partition_rows(DEFAULT_PARTS, OTA)  # a board with the port's layout, checked for OTA
    assert {n for n, c in wrong.items() if c.passed is False} == {"running partition", "app partitions", "fs partition"}
    assert "the board runs factory" in wrong["running partition"].problem
    wrong = partition_rows(OTA_PARTS, REF)
    assert wrong["app partitions"].passed is False and wrong["running partition"].passed is False
    smaller = dict(OTA_PARTS, fs=[1, 0x81, 0x810000, 4 * MB, "vfs"])
    assert partition_rows(smaller, OTA)["fs partition"].passed is False
    rows = partition_rows(None, OTA)
    assert {c.passed for c in rows.values()} == {None}  # no esp32 module: n/a with the reason


def test_verify_ota_board_against_the_repl_peer(invoke_run, repl_peers):
    peer = repl_peers("ota")
    ok = invoke_run("verify", "--port", peer.port, "--profile", "esp32s3-n16r8-ota", "--json", timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    checks = {c["check"]: c for c in json.loads(ok.stdout)["checks"]}
    assert checks["running partition"]["found"] == "ota_1 4MB @0x410000" and checks["running partition"]["pass"]
    assert checks["fs partition"]["pass"] and checks["app partitions"]["pass"]

    line = one_line_error(invoke_run("verify", "--port", peer.port, "--profile", "esp32s3-n16r8", timeout=60))
    assert "app partitions: the board's app partitions are not the profile's layout" in line

    plain = repl_peers("reference")
    line = one_line_error(invoke_run("verify", "--port", plain.port, "--profile", "esp32s3-n16r8-ota", timeout=60))
    assert "running partition: the board runs factory" in line and "fs partition" in line


# ---- build output, dist and flash with an OTA layout ----------------------------------------

def ota_entries(app=4 * MB):
    from harness.images import PartitionEntry

    sub = {(p.type, p.subtype): name for (t, names) in partitions.SUBTYPES.items() for name, code in names.items()
           for p in [partitions.Partition("", t, code, 0, 0)]}
    return [PartitionEntry(p.label, "app" if p.type == APP else "data", sub[(p.type, p.subtype)], p.offset, p.size)
            for p in layout.plan(layout.Layout(app=app, ota=True), 16 * MB, True)]


def test_dist_records_the_layout_and_the_blank_otadata(tmp_path):
    from harness.images import write_fake_build
    from mpforge.dist import collect

    s = settings.from_config({"mpforge": {"workdir": str(tmp_path / "work"), "micropython": {"dir": str(tmp_path / "mp")}}})
    job = settings.job(s, "esp32s3-n16r8-ota", "v1.28.0")
    write_fake_build(job.build_dir, app_size=96 * 1024, partitions=ota_entries())
    info = json.loads((collect.collect(job, tmp_path / "dist") / "build-info.json").read_text())
    assert info["layout"]["profile"] == {"app": 4 * MB, "ota": True, "fs": "rest"}
    assert info["layout"]["app_offset"] == 0x10000
    assert [(p["label"], p["offset"], p["size"]) for p in info["layout"]["partitions"] if p["type"] == APP] == [
        ("ota_0", 0x10000, 4 * MB), ("ota_1", 0x410000, 4 * MB)]
    assert {i["offset"]: i["role"] for i in info["images"]}[0xD000] == "other"  # ota_data_initial.bin


@pytest.fixture
def ota_build(tmp_path):
    s = settings.from_config({"mpforge": {"workdir": str(tmp_path / "work")}})
    return settings.job(s, "esp32s3-n16r8-ota", "v1.28.0").build_dir


def test_flash_ota_layout_writes_blank_otadata_and_refuses_an_app_too_big(tmp_path, invoke_run, ota_build):
    """The real esptool against the ROM peer: an OTA build goes where flasher_args.json says
    (app at ota_0, blank otadata, so the board starts ota_0 even if it ran ota_1 before)."""
    from harness.esp_mock import MockBoard
    from harness.images import write_fake_build

    cfg = tmp_path / "ci.yaml"
    cfg.write_text("mpforge:\n  before: no-reset\n  after: hard-reset\n  connect_attempts: 2\n")
    built = write_fake_build(ota_build, app_size=96 * 1024, partitions=ota_entries())
    with MockBoard() as board:
        board.flash.data[0xD000:0xD020] = b"\x01" * 32  # an otadata that chose ota_1
        result = invoke_run("-f", str(cfg), "flash", "--port", board.url, "--profile", "esp32s3-n16r8-ota", timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        data = board.flash.data
        assert data[0x10000:0x10000 + len(built["app"])] == built["app"]
        assert data[0xD000:0xF000] == b"\xff" * 0x2000

    # On an 8 MB board, even with --force (flash too small may be overridden), ota_1
    # (0x410000 + 4 MB) would lie past the end of the chip: refused, nothing written.
    with MockBoard(flash_size=8 * MB) as small:
        line = one_line_error(invoke_run("-f", str(cfg), "flash", "--port", small.url, "--force",
                                         "--profile", "esp32s3-n16r8-ota", timeout=120))
        assert "app partition ota_1 (0x410000 + 4MB) ends at 0x810000, past the end of the board's 8MB" in line
        assert small.flash.bytes_written == 0

    # A table whose ota_0 is smaller than the app: refused before any board is touched.
    data, apps = ota_entries()[:3], [e for e in ota_entries() if e.type == "app"]
    small = data + [apps[0]._replace(size=0x20000), apps[1]._replace(offset=0x30000, size=0x20000)]
    write_fake_build(ota_build, app_size=200 * 1024, partitions=small)
    line = one_line_error(invoke_run("-f", str(cfg), "flash", "--port", "socket://127.0.0.1:9",
                                     "--profile", "esp32s3-n16r8-ota", timeout=120))
    assert "does not fit its partition ota_0" in line


def test_dist_of_an_own_table_lets_verify_check_it(tmp_path):
    """A profile with csv = ...: the dist does not carry the CSV file, its build-info's
    table stands in for it, so verify --firmware still checks the board's partitions."""
    from harness.images import PartitionEntry, write_fake_build
    from mpforge.board import checks as board_checks
    from mpforge.dist import collect, load

    own = tmp_path / "boards"
    own.mkdir()
    (own / "mine.csv").write_text("nvs, data, nvs, 0x9000, 0x6000,\nphy_init, data, phy, 0xf000, 0x1000,\n"
                                  "factory, app, factory, 0x10000, 0x300000,\nvfs, data, fat, 0x310000, 0xCF0000,\n")
    text = (profiles.BOARDS_DIR / "esp32s3-n16r8-ota.toml").read_text()
    (own / "mine.toml").write_text(text.replace('app = "4MB"\nota = true\nfs = "rest"', 'csv = "mine.csv"'))
    s = settings.from_config({"mpforge": {"workdir": str(tmp_path / "work"), "micropython": {"dir": str(tmp_path / "mp")}}})
    job = settings.job(s, str(own / "mine.toml"), "v1.28.0")
    write_fake_build(job.build_dir, app_size=96 * 1024, partitions=[
        PartitionEntry("nvs", "data", "nvs", 0x9000, 0x6000), PartitionEntry("phy_init", "data", "phy", 0xF000, 0x1000),
        PartitionEntry("factory", "app", "factory", 0x10000, 0x300000),
        PartitionEntry("vfs", "data", "fat", 0x310000, 0xCF0000)])
    built = load.load(collect.collect(job, tmp_path / "dist"))
    again = load.job_for(built, s)
    assert again.profile.partitions.csv_text is not None
    parts = {"running": [0, 0, 0x10000, 0x300000, "factory"], "apps": [[0, 0, 0x10000, 0x300000, "factory"]],
             "fs": [1, 0x81, 0x310000, 0xCF0000, "vfs"]}
    rows = board_checks.check_partitions({"partitions": parts}, again.profile, "v1.28.0")
    assert [c.passed for c in rows] == [True, True, True]
    rows = board_checks.check_partitions({"partitions": DEFAULT_PARTS}, again.profile, "v1.28.0")
    assert [c.passed for c in rows] == [False, False, False]
