"""The browser side of a dist folder: the ESP Web Tools manifest, index.html and,
for an offline install, a local copy of ESP Web Tools' install button.

The manifest lists every image at its own offset, as flasher_args.json does
(bootloader 0x0, partition table 0x8000, app 0x10000 on an ESP32-S3): nothing
between them is written, so the NVS partition at 0x9000 survives a browser
install. Improv is off (MicroPython does not speak it). See docs/web-install.md.

Setting `dist.web_tools` says where the page loads the install button from:
an http(s) URL (default: the official CDN), or a local folder holding
esp-web-tools' `dist/web` build (install-button.js and its chunks), which dist
copies into the dist folder so the page works with no network.
"""

from __future__ import annotations

import re
from pathlib import Path

from esptool.targets import CHIP_DEFS

from mpforge import PROJECT_ROOT
from mpforge.dist import MERGED, Sum, page
from mpforge.errors import UserError
from mpforge.image import firmware, layout, partitions
from mpforge.model.settings import Job
from mpforge.text import size_text

STEP = "dist"
MANIFEST = "manifest.json"
INDEX = "index.html"
BUTTON = "install-button.js"  # the entry module of esp-web-tools' dist/web build
SETTING = "dist.web_tools"
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\.js")


def manifest(job: Job, fw: firmware.Firmware, names: dict[int, str]) -> dict:
    """ESP Web Tools' Manifest: one build, each image at its own offset."""
    return {
        "name": f"MicroPython {job.release.version} for {job.profile.title}",
        "version": f"{job.release.version}-{job.profile.name}",
        "new_install_prompt_erase": True,
        "new_install_improv_wait_time": 0,
        "builds": [{"chipFamily": CHIP_DEFS[fw.chip].CHIP_NAME,
                    "parts": [{"path": names[image.offset], "offset": image.offset} for image in fw.images]}],
    }


def script_setting(job: Job) -> str:
    return job.settings.dist_web_tools or page.CDN_SCRIPT


def is_url(value: str) -> bool:
    return value.startswith(("https://", "http://"))


def local_copy(value: str) -> dict[str, bytes]:
    """The .js files of a local esp-web-tools dist/web folder, by name."""
    folder = Path(value).expanduser()
    if not folder.is_absolute():
        folder = PROJECT_ROOT / folder
    if not (folder / BUTTON).is_file():
        raise UserError(STEP, f"setting {SETTING} is {value!r}: neither an http(s) URL nor a folder with "
                        f"{BUTTON}; give esp-web-tools' dist/web folder or the CDN URL")
    copy = {}
    for path in sorted(folder.glob("*.js")):
        if not _PLAIN_NAME.fullmatch(path.name):  # it must fit a SHA256SUMS line and a URL as it is
            raise UserError(STEP, f"{path} (setting {SETTING}) has a name dist cannot list in SHA256SUMS; "
                            "use the unchanged esp-web-tools dist/web folder")
        copy[path.name] = path.read_bytes()
    return copy


def files(job: Job, fw: firmware.Firmware, names: dict[int, str], files_so_far: dict[str, bytes],
          info: dict) -> dict[str, bytes]:
    """index.html, plus the local copy of the install button when the setting names one."""
    value = script_setting(job)
    extra = {} if is_url(value) else local_copy(value)
    clash = sorted(set(extra) & (set(files_so_far) | {INDEX}))
    if clash:
        raise UserError(STEP, f"the local copy of ESP Web Tools ({SETTING}) has a file named {clash[0]}, "
                        "which dist writes itself; use the unchanged esp-web-tools dist/web folder")
    src = value if is_url(value) else BUTTON
    table_image = fw.image("partition-table")
    table = partitions.parse(files_so_far[names[table_image.offset]])
    sums = [Sum.of(names[image.offset], files_so_far[names[image.offset]], image.offset) for image in fw.images]
    flashed = set(names.values())
    sums += [Sum.of(name, data, job.chip.bootloader_offset if name == MERGED else None)
             for name, data in sorted(files_so_far.items()) if name not in flashed]
    p = job.profile
    psram = f"{size_text(p.psram_size)} {p.psram_mode}" if p.psram_size else "none"
    html = page.render(info, table, sums, title=p.title, psram=psram, manifest=MANIFEST, script_src=src,
                       table_offset=table_image.offset, bootloader_offset=job.chip.bootloader_offset,
                       fs_made_at_boot=bool(layout.line_facts(job.release.version).get("fs_made_at_boot")))
    return {INDEX: html.encode(), **extra}
