"""invoke dist: a simulated ESP-IDF build collected into a release folder,
checked file by file, flashed with the real esptool through its flash_args
against the in-process ROM peer, and loaded back by load.load.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime
from pathlib import Path

import pytest

from conftest import one_line_error
from harness.esp_mock import MockBoard
from harness.images import APP_OFFSET, PARTITION_TABLE_OFFSET, make_app_image, write_fake_build
from mpforge import __version__
from mpforge.dist import collect, load
from mpforge.build import overlay
from mpforge.model import settings as settings_mod
from mpforge.errors import UserError

APP_SIZE = 96 * 1024
PROFILE = "esp32s3-n16r8"
FILES = {"firmware.bin", "bootloader.bin", "partition-table.bin", "micropython.bin", "flash_args",
         "manifest.json", "build-info.json", "index.html", "SHA256SUMS"}
# ESP Web Tools (esphome/esp-web-tools src/const.ts; docs/tools.md §2)
CHIP_FAMILIES = {"ESP32", "ESP32-C2", "ESP32-C3", "ESP32-C5", "ESP32-C6", "ESP32-C61", "ESP32-H2",
                 "ESP32-P4", "ESP32-S2", "ESP32-S3", "ESP8266"}
MANIFEST_KEYS = {"name", "version", "builds", "new_install_prompt_erase", "new_install_improv_wait_time",
                 "home_assistant_domain", "funding_url", "new_install_skip_erase"}
BUILD_KEYS = {"chipFamily", "parts", "serialType"}


@pytest.fixture
def job(tmp_path):
    """A job whose MicroPython tree is a tmp folder (build_dir under its ports/esp32), with no
    ESP-IDF checkout: the real config resolver cannot run there and dist falls back."""
    s = settings_mod.from_config({"mpforge": {"workdir": str(tmp_path / "work"),
                                              "micropython": {"dir": str(tmp_path / "mp")}}})
    return settings_mod.job(s, PROFILE, "v1.28.0")


@pytest.fixture
def built(job):
    assert job.build_dir == job.port_dir / "build-ESP32_GENERIC_S3-FLASH_16M_SPIRAM_OCT"
    return write_fake_build(job.build_dir, app_size=APP_SIZE)


@pytest.fixture
def folder(job, built, tmp_path):
    return collect.collect(job, tmp_path / "dist")


def parts_of(built: dict) -> dict[int, bytes]:
    return {0x0: built["bootloader"], PARTITION_TABLE_OFFSET: built["partition-table"], APP_OFFSET: built["app"]}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_every_file_present_and_sums_right(folder, tmp_path, built):
    assert folder == tmp_path / "dist" / f"{PROFILE}-v1.28.0"
    assert {p.name for p in folder.iterdir()} == FILES
    assert (folder / "bootloader.bin").read_bytes() == built["bootloader"]
    assert (folder / "partition-table.bin").read_bytes() == built["partition-table"]
    assert (folder / "micropython.bin").read_bytes() == built["app"]
    sums = {}
    for line in (folder / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ")
        sums[name] = digest
    assert set(sums) == FILES - {"SHA256SUMS"}
    for name, digest in sums.items():
        assert sha((folder / name).read_bytes()) == digest, name
    if shutil.which("sha256sum"):  # the coreutils tool accepts the file as it is
        check = subprocess.run(["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=folder,
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr


def test_web_tools_manifest(folder):
    manifest = json.loads((folder / "manifest.json").read_text())
    assert set(manifest) <= MANIFEST_KEYS
    assert isinstance(manifest["name"], str) and "v1.28.0" in manifest["name"]
    assert isinstance(manifest["version"], str) and manifest["version"]
    assert isinstance(manifest.get("new_install_prompt_erase", False), bool)
    assert len(manifest["builds"]) == 1
    build = manifest["builds"][0]
    assert set(build) <= BUILD_KEYS
    assert build["chipFamily"] == "ESP32-S3" and build["chipFamily"] in CHIP_FAMILIES
    # Each image at its own offset (the S3 bootloader is at 0x0, not 4096 as in the README
    # example): nothing is written between them, so NVS at 0x9000 is kept.
    assert build["parts"] == [{"path": "bootloader.bin", "offset": 0},
                              {"path": "partition-table.bin", "offset": PARTITION_TABLE_OFFSET},
                              {"path": "micropython.bin", "offset": APP_OFFSET}]
    assert manifest["new_install_improv_wait_time"] == 0  # MicroPython does not speak Improv
    for part in build["parts"]:
        assert isinstance(part["offset"], int)
        assert (folder / part["path"]).is_file()


def test_merged_image_is_the_parts_at_their_offsets(folder, built):
    merged = (folder / "firmware.bin").read_bytes()
    parts = parts_of(built)
    end = 0
    for offset in sorted(parts):
        assert merged[end:offset] == b"\xff" * (offset - end), f"gap before {offset:#x}"
        assert merged[offset:offset + len(parts[offset])] == parts[offset], f"image at {offset:#x}"
        end = offset + len(parts[offset])
    assert len(merged) == end
    assert merged == built["firmware"]  # what MicroPython's makeimg.py writes, too


def test_flash_args_with_the_real_esptool(folder, built):
    args = (folder / "flash_args").read_text()
    assert "--flash-mode dio" in args and "--flash-size 16MB" in args and "--flash-freq 80m" in args
    with MockBoard() as board:
        result = subprocess.run(
            [sys.executable, "-m", "esptool", "--chip", "esp32s3", "--port", board.url,
             "--before", "no-reset", "--after", "no-reset", "write-flash", "@flash_args"],
            cwd=folder, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Hash of data verified" in result.stdout
        data = bytes(board.flash.data)
    for offset, image in parts_of(built).items():
        assert data[offset:offset + len(image)] == image, f"image at {offset:#x}"
    assert data[APP_OFFSET + len(built["app"]):].count(0xFF) == len(data) - APP_OFFSET - len(built["app"])


def test_build_info(folder, job, built):
    info = json.loads((folder / "build-info.json").read_text())
    assert info["profile"] == PROFILE
    assert info["micropython"] == {"version": "v1.28.0", "commit": job.release.commit}
    assert info["idf_version"] == job.idf_version == "v5.5.1"
    assert info["mpforge_version"] == __version__
    mtime = (job.build_dir / "micropython.bin").stat().st_mtime
    when = datetime.fromisoformat(info["built_at"].replace("Z", "+00:00"))
    assert when.tzinfo is not None and abs(when.timestamp() - mtime) < 1
    rendered = overlay.render(job)
    board = job.board_dir.relative_to(job.mp_dir)
    assert info["overlay"]["files"] == {str(board / n): sha(t.encode()) for n, t in rendered.files.items()}
    assert info["overlay"]["files"]  # the variant's files are listed
    assert [(i["file"], i["offset"], i["role"]) for i in info["images"]] == [
        ("bootloader.bin", 0, "bootloader"), ("partition-table.bin", 0x8000, "partition-table"),
        ("micropython.bin", 0x10000, "app")]
    assert info["images"][2]["sha256"] == sha(built["app"])
    assert info["settings"] is None and info["settings_source"] is None  # no IDF, no sdkconfig.json


def test_build_info_records_the_builds_sdkconfig(job, built, tmp_path):
    config = {"ESPTOOLPY_FLASHSIZE": "16MB", "SPIRAM_MODE_OCT": True}
    (job.build_dir / "config").mkdir()
    (job.build_dir / "config" / "sdkconfig.json").write_text(json.dumps(config))
    info = json.loads((collect.collect(job, tmp_path / "dist") / "build-info.json").read_text())
    assert info["settings"] == config
    assert info["settings_source"] == "build/config/sdkconfig.json"


def test_build_info_prefers_invoke_config(tmp_path):
    """The real dist -> config path: the fixture MicroPython tree with the overlay applied, the
    simulated IDF's Kconfig resolved by the real kconfgen (tests/test_config.py)."""
    from test_config import config_job
    from test_overlay import make_tree

    job = config_job(tmp_path, make_tree(tmp_path, "v1.26"), "v1.28.0")
    overlay.apply(job)
    write_fake_build(job.build_dir, app_size=APP_SIZE)
    (job.build_dir / "config").mkdir()
    (job.build_dir / "config" / "sdkconfig.json").write_text('{"ESPTOOLPY_FLASHSIZE": "4MB"}')
    info = json.loads((collect.collect(job, tmp_path / "dist") / "build-info.json").read_text())
    assert info["settings_source"] == "invoke config"
    settings = info["settings"]
    assert settings["ok"] is True and settings["profile"] == PROFILE and settings["idf"] == "v5.5.1"
    rows = {row["setting"]: row["got"] for row in settings["settings"]}
    assert rows["flash size"] == "16MB" and rows["PSRAM mode"] == "octal" and rows["CPU MHz"] == "240"


def test_unchanged_build_rewrites_nothing(folder, job, built, tmp_path, capsys):
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()}
    capsys.readouterr()
    assert collect.collect(job, tmp_path / "dist") == folder
    assert "up to date" in capsys.readouterr().out
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()} == before
    # The same build collected elsewhere gives the same bytes (reproducible).
    other = collect.collect(job, tmp_path / "elsewhere")
    assert {p.name: p.read_bytes() for p in other.iterdir()} == {p.name: p.read_bytes() for p in folder.iterdir()}
    assert not [p for p in (tmp_path / "dist").iterdir() if p.name.startswith(".")]  # no temp folders left


def test_changed_build_is_collected_again(folder, job, tmp_path, capsys):
    (folder / "notes.txt").write_text("flashed to the greenhouse board")
    capsys.readouterr()
    collect.collect(job, tmp_path / "dist")
    assert "up to date" in capsys.readouterr().out  # a file of the user's does not make it stale
    new_app = make_app_image(APP_SIZE, seed=7)
    write_fake_build(job.build_dir, app_size=APP_SIZE, app=new_app)
    collect.collect(job, tmp_path / "dist")
    assert "up to date" not in capsys.readouterr().out
    assert (folder / "micropython.bin").read_bytes() == new_app
    assert (folder / "notes.txt").read_text() == "flashed to the greenhouse board"  # kept
    assert {p.name for p in folder.iterdir()} == FILES | {"notes.txt"}
    assert load.load(folder).images[-1].path.read_bytes() == new_app
    assert not [p for p in (tmp_path / "dist").iterdir() if p.name.startswith(".")]


def test_load_folder(folder, built):
    loaded = load.load(folder)
    assert [(i.offset, i.role, i.path.read_bytes()) for i in loaded.images] == [
        (0, "bootloader", built["bootloader"]), (0x8000, "partition-table", built["partition-table"]),
        (0x10000, "app", built["app"])]
    assert loaded.merged.read_bytes() == built["firmware"]
    assert (loaded.chip, loaded.flash_mode, loaded.flash_size, loaded.flash_freq) == ("esp32s3", "dio", "16MB", "80m")
    assert loaded.firmware.image("app").path == folder / "micropython.bin"
    assert loaded.info["profile"] == PROFILE


@pytest.mark.parametrize("layout", ["folder-inside", "files-at-top"])
def test_load_zip(folder, built, tmp_path, layout):
    if layout == "folder-inside":
        archive = shutil.make_archive(str(tmp_path / "release"), "zip", root_dir=folder.parent, base_dir=folder.name)
    else:
        archive = shutil.make_archive(str(tmp_path / "release"), "zip", root_dir=folder)
    loaded = load.load(archive)
    assert loaded.source == Path(archive)
    assert [i.path.read_bytes() for i in loaded.images] == [built["bootloader"], built["partition-table"], built["app"]]
    assert loaded.merged.read_bytes() == built["firmware"]
    extracted = loaded.folder
    assert extracted != folder and extracted.is_dir()
    del loaded
    import gc
    gc.collect()
    assert not extracted.exists()  # the private extraction goes with the Dist


@pytest.mark.parametrize("name", ["micropython.bin", "flash_args", "build-info.json"])
def test_load_refuses_a_changed_file(folder, name):
    with open(folder / name, "r+b") as handle:
        handle.seek(40)
        byte = handle.read(1)
        handle.seek(40)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(UserError) as exc:
        load.load(folder)
    message = str(exc.value)
    assert name in message and "SHA256SUMS" in message and "\n" not in message


@pytest.mark.parametrize("name", ["bootloader.bin", "SHA256SUMS"])
def test_load_refuses_a_missing_file(folder, name):
    (folder / name).unlink()
    with pytest.raises(UserError) as exc:
        load.load(folder)
    message = str(exc.value)
    assert name in message and "missing" in message and "\n" not in message


def test_load_refuses_a_changed_file_in_a_zip(folder, tmp_path):
    archive = tmp_path / "release.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted(folder.iterdir()):
            data = path.read_bytes()
            if path.name == "partition-table.bin":
                data = data[:-1] + b"\x00"
            out.writestr(f"{folder.name}/{path.name}", data)
    with pytest.raises(UserError) as exc:
        load.load(archive)
    assert "partition-table.bin" in str(exc.value) and "SHA256SUMS" in str(exc.value)


@pytest.mark.parametrize("cut", [1000, 16])  # 16: only the appended SHA-256, which esptool's loader accepts
def test_truncated_app_is_refused(job, built, tmp_path, cut):
    app = job.build_dir / "micropython.bin"
    app.write_bytes(built["app"][:-cut])
    with pytest.raises(UserError) as exc:
        collect.collect(job, tmp_path / "dist")
    assert "micropython.bin" in str(exc.value) and "\n" not in str(exc.value)
    assert not (tmp_path / "dist" / f"{PROFILE}-v1.28.0").exists()


def test_truncated_partition_table_is_refused(job, built, tmp_path):
    table = job.build_dir / "partition_table" / "partition-table.bin"
    table.write_bytes(built["partition-table"][:100])
    with pytest.raises(UserError) as exc:
        collect.collect(job, tmp_path / "dist")
    assert "partition-table.bin" in str(exc.value)


def test_a_foreign_folder_is_not_replaced(job, built, tmp_path):
    mine = tmp_path / "dist" / f"{PROFILE}-v1.28.0"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(UserError) as exc:
        collect.collect(job, tmp_path / "dist")
    assert str(mine) in str(exc.value)
    assert (mine / "notes.txt").read_text() == "mine"


def _task_env(tmp_path) -> dict:
    mp = tmp_path / "mp"
    mp.mkdir(exist_ok=True)
    return {"INVOKE_MPFORGE_MICROPYTHON_DIR": str(mp)}


def test_task_no_build_yet(invoke_run, tmp_path):
    result = invoke_run("dist", "--dest", str(tmp_path / "dist"), env=_task_env(tmp_path))
    line = one_line_error(result)
    assert "no firmware built in" in line
    assert f"run `invoke build --profile {PROFILE} --micropython v1.28.0`" in line
    assert not (tmp_path / "dist").exists()


def test_task_collects_and_is_idempotent(invoke_run, job, built, tmp_path):
    env = _task_env(tmp_path)
    first = invoke_run("dist", "--profile", PROFILE, "--micropython", "v1.28.0", "--dest", str(tmp_path / "out"),
                       env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    folder = tmp_path / "out" / f"{PROFILE}-v1.28.0"
    assert {p.name for p in folder.iterdir()} == FILES
    second = invoke_run("dist", "--dest", str(tmp_path / "out"), env=env)
    assert second.returncode == 0, second.stderr
    assert "up to date" in second.stdout
    dry = invoke_run("--dry", "dist", "--dest", str(tmp_path / "dry"), env=env)
    assert dry.returncode == 0, dry.stderr
    assert "would write" in dry.stdout and not (tmp_path / "dry").exists()
