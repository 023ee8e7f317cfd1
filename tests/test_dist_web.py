"""The browser side of `invoke dist`: the manifest's parts, index.html (every value
escaped, the flash layout drawn to scale from the partition table), the script
source setting (CDN URL or a local copy of esp-web-tools from npm), and files of
the user's that dist would now write."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.images import PartitionEntry, make_partition_table, write_fake_build
from mpforge.dist import collect as dist_collect, load
from mpforge.dist import page
from mpforge.errors import UserError
from mpforge.image import partitions
from mpforge.model import settings as settings_mod

PROFILE = "esp32s3-n16r8"
SVG = "{http://www.w3.org/2000/svg}"


def make_job(tmp_path, release="v1.28.0", **dist_settings):
    # no IDF checkout: the real config resolver falls back to the build's own record
    cfg = {"workdir": str(tmp_path / "work"), "micropython": {"dir": str(tmp_path / "mp")}}
    if dist_settings:
        cfg["dist"] = dist_settings
    return settings_mod.job(settings_mod.from_config({"mpforge": cfg}), PROFILE, release)


def collect(tmp_path, table=None, release="v1.28.0", **dist_settings) -> Path:
    job = make_job(tmp_path, release, **dist_settings)
    write_fake_build(job.build_dir, app_size=64 * 1024)
    if table is not None:
        (job.build_dir / "partition_table" / "partition-table.bin").write_bytes(make_partition_table(table))
    return dist_collect.collect(job, tmp_path / "dist")


def svg_of(html: str) -> ET.Element:
    return ET.fromstring(re.search(r"<svg id=\"flash-layout\".*?</svg>", html, re.S).group(0))


def test_manifest_parts_are_the_build_images_at_their_offsets(tmp_path):
    folder = collect(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    args = (folder / "flash_args").read_text().splitlines()[1:]  # what esptool would write
    assert [(p["offset"], p["path"]) for p in manifest["builds"][0]["parts"]] == \
        [(int(offset, 16), name) for offset, name in (line.split() for line in args)]
    assert manifest["new_install_improv_wait_time"] == 0
    assert all(p["path"] != "firmware.bin" for p in manifest["builds"][0]["parts"])


def test_index_page_says_what_the_firmware_is(tmp_path):
    folder = collect(tmp_path)
    html = (folder / "index.html").read_text()
    info = json.loads((folder / "build-info.json").read_text())
    assert '<esp-web-install-button manifest="manifest.json">' in html
    assert f'<script type="module" src="{page.CDN_SCRIPT}"></script>' in html
    for fact in ("ESP32-S3-DevKitC-1-N16R8", "v1.28.0", info["micropython"]["commit"], "16MB, dio at 80m",
                 "8 MB octal", "invoke verify --port PORT --firmware", info["images"][2]["sha256"]):
        assert fact in html, fact
    assert "index.html" in (folder / "SHA256SUMS").read_text()


def test_flash_layout_has_one_box_per_partition_to_scale(tmp_path):
    table = [PartitionEntry("nvs", "data", "nvs", 0x9000, 0x6000),
             PartitionEntry("phy_init", "data", "phy", 0xF000, 0x1000),
             PartitionEntry("ota_0", "app", "ota_0", 0x10000, 0x300000),
             PartitionEntry("ota_1", "app", "ota_1", 0x310000, 0x300000),
             PartitionEntry("vfs", "data", "fat", 0x610000, 0x9F0000)]
    folder = collect(tmp_path, table)
    svg = svg_of((folder / "index.html").read_text())
    boxes = [r for r in svg.iter(f"{SVG}rect") if r.get("class") == "partition"]
    assert [(b.get("data-name"), int(b.get("data-offset"), 16), int(b.get("data-size"))) for b in boxes] == \
        [(e.name, e.offset, e.size) for e in table]
    scale = 960 / (16 * 1024 * 1024)
    for box, entry in zip(boxes, table):
        assert float(box.get("x")) == pytest.approx(entry.offset * scale, abs=0.01)
        assert float(box.get("width")) == pytest.approx(max(entry.size * scale, 1.0), abs=0.01)
    zoom = [r for r in svg.iter(f"{SVG}rect") if r.get("class") == "zoom"]  # 0x0-0x10000 enlarged
    assert [r.get("data-name") for r in zoom] == ["bootloader", "table", "nvs", "phy_init"]
    assert float(zoom[2].get("width")) == pytest.approx(0x6000 * 960 / 0x10000, abs=0.01)
    labels = "".join(t.text or "" for t in svg.iter(f"{SVG}text"))
    assert "ota_1 0x310000 3 MB (app/ota_1)" in labels
    assert "vfs 0x610000 9.9 MB (LittleFS, data/fat)" in labels


HEAD = [PartitionEntry("nvs", "data", "nvs", 0x9000, 0x6000),
        PartitionEntry("phy_init", "data", "phy", 0xF000, 0x1000),
        PartitionEntry("factory", "app", "factory", 0x10000, 0x1F0000)]


def layout_rows(html: str) -> dict[str, list[str]]:
    table = html[html.index("<th>Partition</th>"):]
    table = table[:table.index("</table>")]
    rows = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table)]
    return {row[0]: row for row in rows if row}


def test_a_vfs_the_firmware_makes_at_boot_is_shown_as_littlefs(tmp_path):
    """v1.26 on, a table without vfs (the port's own, mpforge's fs = "rest"): the
    firmware makes a LittleFS vfs from the table's end to the end of the flash."""
    html = (collect(tmp_path, HEAD) / "index.html").read_text()
    row = layout_rows(html)["vfs"]
    assert row[1:4] == ["not in the table", "<code>0x200000</code>", "14 MB"]
    assert row[4].startswith("LittleFS filesystem, made by the firmware at boot")
    svg = svg_of(html)
    made = [r for r in svg.iter(f"{SVG}rect") if r.get("class") == "made-at-boot"]
    assert [(r.get("data-offset"), int(r.get("data-size"))) for r in made] == [("0x200000", 14 << 20)]
    assert "vfs 0x200000 14 MB (LittleFS, made at boot)" in [t.text for t in svg.iter(f"{SVG}text")]
    assert "the files in the LittleFS filesystem (vfs at <code>0x200000</code>) are kept" in html


def test_a_table_without_vfs_on_a_line_that_makes_none_shows_no_filesystem(tmp_path):
    html = (collect(tmp_path, HEAD, release="v1.25.0") / "index.html").read_text()
    assert "vfs" not in layout_rows(html) and "made-at-boot" not in html
    assert "LittleFS" not in html and "no filesystem in this table" in html


def test_an_ffat_partition_is_fat(tmp_path):
    html = (collect(tmp_path, [*HEAD, PartitionEntry("ffat", "data", "fat", 0x200000, 0xE00000)])
            / "index.html").read_text()
    assert layout_rows(html)["ffat"][4] == "FAT filesystem: the files on the board"
    assert "LittleFS" not in html and "the files in the FAT filesystem (ffat at" in html


def test_the_warning_says_when_firmware_bin_covers_the_filesystem():
    """No build of mpforge's puts data under the app, but the page says what firmware.bin
    covers from the table, whatever it is."""
    table = [partitions.Partition("nvs", partitions.DATA, 2, 0x9000, 0x6000),
             partitions.Partition("factory", partitions.APP, 0, 0x10000, 0x10000),
             partitions.Partition("vfs", partitions.DATA, 0x81, 0x20000, 0x10000)]
    info = {"chip": "esp32s3", "flash": {"size": "4MB"}}
    html = page.render(info, table, [page.Sum("firmware.bin", 0, 0x28000, "0" * 64)], title="t", psram="none",
                       manifest="manifest.json", script_src="install-button.js")
    assert "covers <code>0x0</code> to <code>0x28000</code>. It writes 0xFF over nvs: settings" in html
    assert "It also covers the LittleFS filesystem (vfs at <code>0x20000</code>): the files on the board are " \
        "lost." in html
    html = page.render(info, table, [page.Sum("firmware.bin", 0, 0x1F000, "0" * 64)], title="t", psram="none",
                       manifest="manifest.json", script_src="install-button.js")
    assert "(vfs at <code>0x20000</code>) lie beyond it and are kept." in html


def test_the_offline_message_names_a_local_copy_and_the_check():
    info = {"profile": "p", "micropython": {"version": "v1.28.0"}, "chip": "esp32s3"}
    table = [partitions.Partition("factory", partitions.APP, 0, 0x10000, 0x1F0000)]
    html = page.render(info, table, [], title="t", psram="none", manifest="manifest.json",
                       script_src="install-button.js")
    message = html[html.index('<div id="installer-missing"'):]
    message = message[:message.index("</div>")]
    assert "hidden>" in message.splitlines()[0]  # shown only by the page's check, when the button is missing
    assert "from install-button.js, a file in this folder" in message
    assert "sha256sum -c SHA256SUMS" in message
    assert "<code>invoke flash --port PORT --firmware dist/p-v1.28.0</code>" in message


def test_every_value_on_the_page_is_escaped():
    """Profile and build-info text, partition names: data, never markup."""
    hostile = '"><script>alert(1)</script><x y="'
    info = {"profile": hostile, "board": hostile, "variant": hostile, "micropython": {"version": hostile,
            "commit": hostile}, "idf_version": hostile, "chip": hostile, "frozen_modules": [hostile],
            "flash": {"size": "16MB", "mode": hostile, "freq": hostile}, "built_at": hostile}
    table = [partitions.Partition(hostile[:15], 1, 2, 0x9000, 0x6000)]
    html = page.render(info, table, [page.Sum(hostile, 0, 1, hostile)], title=hostile, psram=hostile,
                       manifest=hostile, script_src=hostile)
    assert "<script>" not in html and "<x " not in html
    assert html.count("<script") == 2  # the install button's own tag, and the page's fixed check
    check = re.search(r'<script id="installer-check">(.*?)</script>', html, re.S).group(1)
    assert check == re.search(r'<script id="installer-check">(.*?)</script>', page.render(
        {}, table, [], title="t", psram="none", manifest="m.json", script_src="s.js"), re.S).group(1)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    svg_of(html)  # still well-formed XML


def test_local_copy_of_web_tools_for_an_offline_install(tmp_path):
    """A folder shaped like esp-web-tools' dist/web (the real one runs in
    test_web_install.py's browser test)."""
    web = tmp_path / "web"
    web.mkdir()
    (web / "install-button.js").write_text('import "./index-Dt9w.js";\n')
    (web / "index-Dt9w.js").write_text("export const x = 1;\n")
    (web / "README.md").write_text("not a module\n")
    folder = collect(tmp_path, web_tools=str(web))
    html = (folder / "index.html").read_text()
    assert '<script type="module" src="install-button.js"></script>' in html
    copied = ["index-Dt9w.js", "install-button.js"]
    assert not (folder / "README.md").exists()
    assert all((folder / name).read_bytes() == (web / name).read_bytes() for name in copied)
    summed = {line.split("  ")[1] for line in (folder / "SHA256SUMS").read_text().splitlines()}
    assert set(copied) <= summed
    assert load.load(folder).info["profile"] == PROFILE  # every copied file checks against its sum


def test_a_web_tools_setting_that_is_neither_url_nor_copy_is_refused(tmp_path):
    with pytest.raises(UserError) as exc:
        collect(tmp_path, web_tools=str(tmp_path / "nowhere"))
    assert "dist.web_tools" in str(exc.value) and "install-button.js" in str(exc.value)
    assert not (tmp_path / "dist").exists()


def test_a_users_index_html_in_an_older_dist_is_not_overwritten(tmp_path):
    folder = collect(tmp_path)
    # As an older mpforge left it: index.html not one of dist's files, but the user's.
    sums = [line for line in (folder / "SHA256SUMS").read_text().splitlines() if not line.endswith("index.html")]
    (folder / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    (folder / "index.html").write_text("my own page")
    with pytest.raises(UserError) as exc:
        collect(tmp_path)
    assert str(folder / "index.html") in str(exc.value)
    assert (folder / "index.html").read_text() == "my own page"


def test_every_image_flasher_args_names_is_a_part(tmp_path):
    """An OTA build also writes ota_data_initial.bin (at the otadata partition): the
    browser writes it too, as `esptool write-flash @flash_args` does."""
    job = make_job(tmp_path)
    write_fake_build(job.build_dir, app_size=64 * 1024)
    args_file = job.build_dir / "flasher_args.json"
    args = json.loads(args_file.read_text())
    args["flash_files"]["0xd000"] = "ota_data_initial.bin"
    args_file.write_text(json.dumps(args))
    (job.build_dir / "ota_data_initial.bin").write_bytes(b"\xff" * 0x2000)
    folder = dist_collect.collect(job, tmp_path / "dist")
    parts = json.loads((folder / "manifest.json").read_text())["builds"][0]["parts"]
    assert (0xD000, "ota_data_initial.bin") in [(p["offset"], p["path"]) for p in parts]
    assert [p["offset"] for p in parts] == sorted(p["offset"] for p in parts)


def test_a_local_copy_with_an_unlistable_name_is_refused(tmp_path):
    copy = tmp_path / "web"
    copy.mkdir()
    (copy / "install-button.js").write_text("export {};\n")
    (copy / "chunk one.js").write_text("export {};\n")
    with pytest.raises(UserError) as exc:
        collect(tmp_path, web_tools=str(copy))
    assert "chunk one.js" in str(exc.value)


def test_a_profile_title_with_markup_reaches_the_page_as_text(tmp_path):
    """Through the real dist: the profile file's text is data on the page."""
    good = (Path(__file__).resolve().parent.parent / "boards" / f"{PROFILE}.toml").read_text()
    board = tmp_path / "my-board.toml"
    board.write_text(good.replace('name = "ESP32-S3-DevKitC-1-N16R8"',
                                  'name = "<img src=x onerror=alert(1)> & co"', 1))
    s = settings_mod.from_config({"mpforge": {"workdir": str(tmp_path / "work"),
                                              "micropython": {"dir": str(tmp_path / "mp")}}})
    job = settings_mod.job(s, str(board), "v1.28.0")
    write_fake_build(job.build_dir, app_size=64 * 1024)
    html = (dist_collect.collect(job, tmp_path / "dist") / "index.html").read_text()
    assert "<img" not in html
    assert "<h1>MicroPython v1.28.0 for &lt;img src=x onerror=alert(1)&gt; &amp; co</h1>" in html
