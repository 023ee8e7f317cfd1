"""Installing from a browser, with the real components: `invoke serve` serves a
dist over local HTTP; esp-web-tools' flashing logic runs in node with the real
esptool-js (npm, pinned in tests/harness) against the ROM-bootloader peer; the
page runs in real headless Chromium (the OS package) with a local copy of
esp-web-tools. What is simulated: the Web Serial port object, which node lacks,
is a TCP stand-in (tests/harness/web_install.mjs), and the board is the peer."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, one_line_error
from harness.esp_mock import MockBoard
from harness.images import write_fake_build
from mpforge.dist import collect, load, page
from mpforge.model import settings as settings_mod

HARNESS = ROOT / "tests" / "harness"
NODE_MODULES = HARNESS / "node_modules"
WEB_TOOLS = NODE_MODULES / "esp-web-tools" / "dist" / "web"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = ROOT / "work" / "artifacts" / "install-page.png"  # kept by CI as an artifact
NVS = slice(0x9000, 0x10000)


def missing(reason: str):
    """Skip here; fail in CI (CI=true, set by .ci/run), which installs all of it."""
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"{reason}; in CI the browser-install tests must run, not skip", pytrace=False)
    pytest.skip(reason)


def needs_node(package: str):
    if not shutil.which("node") or not (NODE_MODULES / package).is_dir():
        missing(f"node or {package} missing (npm ci --prefix tests/harness)")


def make_dist(tmp_path, local_copy: bool) -> Path:
    cfg = {"workdir": str(tmp_path / "work"), "micropython": {"dir": str(tmp_path / "mp")}}
    if local_copy and (WEB_TOOLS / "install-button.js").is_file():
        cfg["dist"] = {"web_tools": str(WEB_TOOLS)}
    job = settings_mod.job(settings_mod.from_config({"mpforge": cfg}), "esp32s3-n16r8", "v1.28.0")
    write_fake_build(job.build_dir, app_size=96 * 1024)
    return collect.collect(job, tmp_path / "dist")


@pytest.fixture
def dist_folder(tmp_path):
    """A dist whose page loads ESP Web Tools from a local copy (no network in tests)."""
    return make_dist(tmp_path, local_copy=True)


def page_check(url: str, tmp_path: Path, *flags: str) -> dict:
    """What headless Chromium saw on the page (tests/harness/page_check.mjs)."""
    if not CHROMIUM:
        missing("Chromium is not installed (apt-get install chromium; .ci/run installs it)")
    needs_node("playwright-core")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOT.with_name(f"install-page{flags[0].replace('--', '-')}.png") if flags else SCREENSHOT
    check = subprocess.run(["node", str(HARNESS / "page_check.mjs"), url, str(shot),
                            str(tmp_path / "chromium-profile"), CHROMIUM, *flags],
                           cwd=HARNESS, capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    return json.loads(check.stdout.strip().splitlines()[-1])


@pytest.fixture
def serve(invoke_run):
    """Start `invoke serve --dir DIR --http-port 0`; return its base URL once it listens."""
    started = []

    def start(folder: Path) -> str:
        proc = subprocess.Popen([sys.executable, "-m", "invoke", "serve", "--dir", str(folder), "--http-port", "0"],
                                cwd=ROOT, env=invoke_run.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        started.append(proc)
        for line in proc.stdout:
            if "listening on " in line:
                return line.split("listening on ", 1)[1].split()[0]
        raise AssertionError(f"invoke serve did not start: {proc.stderr.read()}")

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(10)


def test_serve_a_folder_of_dists_with_an_index(serve, dist_folder, tmp_path):
    import urllib.request

    (tmp_path / "secret.txt").write_text("not for the browser")
    (dist_folder.parent / "secret.txt").symlink_to(tmp_path / "secret.txt")
    url = serve(dist_folder.parent)
    index = urllib.request.urlopen(url, timeout=10).read().decode()
    assert f'<a href="{dist_folder.name}/">esp32s3-n16r8 @ micropython v1.28.0</a>' in index
    page = urllib.request.urlopen(f"{url}{dist_folder.name}/", timeout=10).read()
    assert page == (dist_folder / "index.html").read_bytes()
    with pytest.raises(urllib.error.HTTPError):  # dist's temporary folders are never served
        urllib.request.urlopen(f"{url}.{dist_folder.name}.tmp/", timeout=10)
    with pytest.raises(urllib.error.HTTPError):  # nor what a symlink points at outside the folder
        urllib.request.urlopen(f"{url}secret.txt", timeout=10)


def test_browser_install_keeps_nvs_and_flash_then_writes_nothing(serve, dist_folder, invoke_run, tmp_path):
    needs_node("esptool-js")
    url = serve(dist_folder)
    nvs = bytes((i * 7 + 3) & 0xFF for i in range(NVS.stop - NVS.start))  # WiFi credentials, say
    cfg = tmp_path / "ci.yaml"
    cfg.write_text("mpforge:\n  before: no-reset\n  after: hard-reset\n  connect_attempts: 2\n")
    with MockBoard() as board:
        board.flash.data[NVS] = nvs
        install = subprocess.run(["node", str(HARNESS / "web_install.mjs"), f"{url}manifest.json",
                                  board.url.removeprefix("socket://")],
                                 cwd=HARNESS, capture_output=True, text=True, timeout=120)
        assert install.returncode == 0, install.stdout + install.stderr
        report = json.loads(install.stdout.strip().splitlines()[-1])
        assert report["chip"] == "ESP32-S3"
        built = load.load(dist_folder)
        assert [(p["offset"], p["path"]) for p in report["parts"]] == \
            [(image.offset, image.path.name) for image in built.images]
        for image in built.images:
            data = image.path.read_bytes()
            assert board.flash.data[image.offset:image.offset + len(data)] == data, image.path.name
        assert board.flash.data[NVS] == nvs  # the browser install kept NVS

        before = board.flash.bytes_written
        again = invoke_run("-f", str(cfg), "flash", "--port", board.url, "--firmware", str(dist_folder),
                           timeout=120, env={"INVOKE_MPFORGE_MICROPYTHON_DIR": str(tmp_path / "no-tree")})
        assert again.returncode == 0, again.stdout + again.stderr
        assert board.flash.bytes_written == before  # mpforge sees the same firmware: 0 bytes written
        assert board.flash.data[NVS] == nvs


def test_the_pages_terminal_commands_do_what_its_warning_says(dist_folder):
    """The page's esptool commands, as written on it, with the real esptool against the
    ROM peer: firmware.bin blanks NVS and keeps the files; @flash_args keeps both."""
    import html as html_mod
    import re

    text = html_mod.unescape((dist_folder / "index.html").read_text())
    commands = dict.fromkeys(re.findall(r"<code>(esptool [^<]*)</code>", text))
    merged = next(c for c in commands if c.endswith(" firmware.bin"))
    by_args = next(c for c in commands if c.endswith(" @flash_args"))
    nvs = bytes((i * 7 + 3) & 0xFF for i in range(NVS.stop - NVS.start))
    files = slice(0x200000, 0x210000)  # the start of the vfs partition
    littlefs = bytes((i * 13 + 1) & 0xFF for i in range(files.stop - files.start))
    for command, nvs_after in ((by_args, nvs), (merged, b"\xff" * len(nvs))):
        with MockBoard() as board:
            board.flash.data[NVS] = nvs
            board.flash.data[files] = littlefs
            argv = command.replace("PORT", board.url).split()[1:]
            run = subprocess.run([sys.executable, "-m", "esptool", "--before", "no-reset", "--after", "no-reset",
                                  *argv], cwd=dist_folder, capture_output=True, text=True, timeout=120)
            assert run.returncode == 0, run.stdout + run.stderr
            assert board.flash.data[NVS] == nvs_after, command
            assert board.flash.data[files] == littlefs, command


def test_the_page_in_headless_chromium(serve, dist_folder, tmp_path):
    if not (WEB_TOOLS / "install-button.js").is_file():
        missing("esp-web-tools is not installed in tests/harness (npm ci --prefix tests/harness)")
    url = serve(dist_folder)
    seen = page_check(url, tmp_path)
    assert seen["errors"] == [] and seen["failed"] == []
    assert seen["defined"] and seen["rendered"] > 0  # the install button is a live custom element
    assert not seen["missing"]["visible"]  # ESP Web Tools loaded: no "could not be loaded" message
    assert seen["manifestUrl"] == f"{url}manifest.json"
    assert seen["manifest"] == json.loads((dist_folder / "manifest.json").read_text())
    assert any(r["url"] == f"{url}install-button.js" and r["status"] == 200 for r in seen["responses"])
    assert all(r["url"].startswith(url) for r in seen["responses"])  # nothing from the network
    assert [b["name"] for b in seen["boxes"]] == ["nvs", "phy_init", "factory", "vfs"]
    vfs = seen["boxes"][-1]
    assert vfs["width"] == pytest.approx(vfs["size"] * 960 / (16 << 20), abs=0.01)
    assert seen["title"] == "MicroPython v1.28.0 for ESP32-S3-DevKitC-1-N16R8"
    assert SCREENSHOT.stat().st_size > 10_000

    # The vfs partition by what it holds: LittleFS, with the table's data/fat beside it.
    rows = {row[0]: row for row in seen["layoutRows"]}
    assert rows["vfs"][1] == "data/fat" and rows["vfs"][4].startswith("LittleFS filesystem")
    assert rows["nvs"][4].startswith("NVS: settings saved with esp32.NVS")
    assert "vfs 0x200000 14 MB (LittleFS, data/fat)" in seen["svgLabels"]
    assert "data fat" not in seen["bodyText"] and "data fat" not in " ".join(seen["svgLabels"])

    # What each install keeps or erases, shown before the button: seen without a click.
    warning = seen["warning"]
    assert warning["visible"] and warning["beforeButton"] and warning["top"] < seen["buttonTop"]
    button, merged, terminal = [line for line in warning["text"].split("\n") if line.strip()][1:4]
    assert button.startswith("The Install button") and "nvs at 0x9000" in button
    assert "vfs at 0x200000) are kept" in button and "erases the whole flash first" in button
    assert merged.startswith("firmware.bin") and "write-flash 0x0 firmware.bin" in merged
    assert "It writes 0xFF over nvs, phy_init: settings saved with esp32.NVS" in merged
    assert "WiFi credentials" in merged and "are lost" in merged
    assert "(vfs at 0x200000) lie beyond it and are kept" in merged
    assert "invoke flash --port PORT --firmware dist/esp32s3-n16r8-v1.28.0" in terminal
    assert "NVS and the files are kept" in terminal


def test_the_page_offline_says_why_there_is_no_button(serve, tmp_path):
    """A dist with the default setting loads ESP Web Tools from the CDN; with no
    network (every request off the page's origin aborted) the page says why
    there is no button and how to flash instead."""
    folder = make_dist(tmp_path, local_copy=False)
    url = serve(folder)
    seen = page_check(url, tmp_path, "--offline")
    assert seen["blocked"] == [page.CDN_SCRIPT]  # the installer was the one request off this machine
    assert seen["failed"] == [{"url": page.CDN_SCRIPT, "error": "net::ERR_INTERNET_DISCONNECTED"}]
    assert not seen["defined"] and seen["rendered"] == 0
    message = seen["missing"]
    assert message["visible"], seen["bodyText"]
    text = " ".join(message["text"].split())
    assert text.startswith("The installer could not be loaded.")
    assert "from unpkg.com" in text and "no network connection, or a blocker" in text
    assert "connect to the network and allow unpkg.com in any blocker, then reload this page" in text
    assert f"invoke flash --port PORT --firmware dist/{folder.name}" in text
    assert "esptool --chip esp32s3 --port PORT write-flash @flash_args" in text
    assert seen["warning"]["visible"]  # the warning stands offline too


def test_the_page_says_why_when_a_blocker_holds_the_request(serve, tmp_path):
    """A request that is never answered keeps the page's load event from firing: the
    message comes after 10 s all the same."""
    folder = make_dist(tmp_path, local_copy=False)
    seen = page_check(serve(folder), tmp_path, "--stall")
    assert seen["blocked"] == [page.CDN_SCRIPT] and seen["failed"] == []  # held open, not failed
    assert not seen["defined"] and seen["missing"]["visible"]
    assert "The installer could not be loaded." in seen["missing"]["text"]


# ---- bad inputs ------------------------------------------------------------------------

def test_serve_refuses_a_folder_that_is_not_a_dist(invoke_run, tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("hello")
    line = one_line_error(invoke_run("serve", "--dir", str(tmp_path / "notes"), "--http-port", "0", timeout=30))
    assert "is not a dist folder and holds none" in line and "invoke dist" in line


def test_serve_refuses_a_port_in_use(invoke_run, dist_folder):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        line = one_line_error(invoke_run("serve", "--dir", str(dist_folder), "--http-port", str(port), timeout=30))
    assert f"port {port}" in line and "in use" in line and "--http-port" in line


def resum(folder: Path) -> None:
    import hashlib
    names = [line.split("  ", 1)[1] for line in (folder / "SHA256SUMS").read_text().splitlines()]
    (folder / "SHA256SUMS").write_text("".join(
        f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  {n}\n" for n in names))


def test_serve_refuses_a_manifest_naming_a_missing_file(invoke_run, dist_folder):
    manifest = json.loads((dist_folder / "manifest.json").read_text())
    manifest["builds"][0]["parts"].append({"path": "extra.bin", "offset": 0x200000})
    (dist_folder / "manifest.json").write_text(json.dumps(manifest))
    resum(dist_folder)  # as someone editing the folder by hand would
    line = one_line_error(invoke_run("serve", "--dir", str(dist_folder), "--http-port", "0", timeout=30))
    assert "manifest.json names 'extra.bin'" in line and "invoke dist" in line


def test_serve_refuses_a_dist_missing_a_part(invoke_run, dist_folder):
    (dist_folder / "micropython.bin").unlink()
    line = one_line_error(invoke_run("serve", "--dir", str(dist_folder.parent), "--http-port", "0", timeout=30))
    assert "micropython.bin is missing" in line
