"""index.html of a dist folder: install the firmware from a browser (ESP Web Tools)
and see what it is.

`render(...)` returns the page as text. Every value on it comes from a profile,
build-info.json or the partition table, so every value is HTML-escaped (`_e`);
nothing is taken as markup. The scripts: ESP Web Tools' install button, from
`script_src` (a setting: the official CDN by default, or a local copy), and a
fixed inline one that shows why there is no button when that one did not load.
Facts about ESP Web Tools, the filesystem and NVS the page relies on:
docs/web-install.md.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlsplit

from mpforge.dist import MERGED, Sum
from mpforge.image import partitions
from mpforge.model import chips
from mpforge.text import size_text

# The official build of the install button, as esp-web-tools' README loads it.
CDN_SCRIPT = "https://unpkg.com/esp-web-tools@10.4.0/dist/web/install-button.js?module"

_SVG_WIDTH = 960
_BAR_Y, _BAR_H = 8, 44
_ROW = 20


def _e(value) -> str:
    return escape(str(value), quote=True)


def _c_modules_text(records) -> str:
    """build-info.json's c_modules as one line: folder (names) at commit, dirty or not."""
    parts = []
    for r in records if isinstance(records, list) else []:
        if not isinstance(r, dict):
            continue
        names = r.get("names") if isinstance(r.get("names"), list) else []
        text = f"{r.get('folder', '?')} ({', '.join(str(n) for n in names) or 'no names found'})"
        git = r.get("git") if isinstance(r.get("git"), dict) else None
        if git:
            text += f" at {str(git.get('commit', '?'))[:12]}{', with local changes' if git.get('dirty') else ''}"
        parts.append(text)
    return "; ".join(parts) or "none"


def render(info: dict, table: list[partitions.Partition], sums: list[Sum], *, title: str,
           psram: str, manifest: str, script_src: str, table_offset: int = partitions.TABLE_OFFSET,
           bootloader_offset: int | None = None, fs_made_at_boot: bool = False) -> str:
    """The page for a dist: `info` is its build-info.json, `table` its partition table,
    `bootloader_offset` the chip's (where firmware.bin goes; default: the default chip's),
    `fs_made_at_boot` whether this release's firmware makes a vfs at boot when the table
    has none (docs/partitions.md)."""
    boot = chips.default().bootloader_offset if bootloader_offset is None else bootloader_offset
    release = info.get("micropython", {})
    flash = info.get("flash", {})
    heading = f"MicroPython {release.get('version', '?')} for {title}"
    frozen = info.get("frozen_modules") or []
    rows = [
        ("Profile", info.get("profile", "?")),
        ("Board", f"{info.get('board', '?')} variant {info.get('variant') or '(none)'}"),
        ("MicroPython", f"{release.get('version', '?')} at {release.get('commit', '?')}"),
        ("ESP-IDF", info.get("idf_version", "?")),
        ("Chip", info.get("chip", "?")),
        ("Flash", f"{flash.get('size', '?')}, {flash.get('mode', '?')} at {flash.get('freq', '?')}"),
        ("PSRAM", psram),
        ("Frozen modules", ", ".join(frozen) if frozen else "none"),
        ("C modules", _c_modules_text(info.get("c_modules"))),
        ("Built", f"{info.get('built_at', '?')} by mpforge {info.get('mpforge_version', '?')}"),
    ]
    facts = "\n".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    flash_bytes = _flash_bytes(flash.get("size"))
    fs = partitions.filesystem(table)
    made = None if fs else _made_at_boot(table, flash_bytes, fs_made_at_boot)
    layout = "\n".join(
        f"<tr><td>{_e(p.label)}</td><td>{_e(_kind(p))}</td><td><code>{p.offset:#x}</code></td>"
        f"<td>{_e(size_text(p.size))}</td><td>{_e(_holds(p, fs))}</td></tr>"
        for p in sorted(table, key=lambda p: p.offset))
    if made is not None:
        layout += (f'\n<tr class="made-at-boot"><td>{_e(made.label)}</td><td>not in the table</td>'
                   f"<td><code>{made.offset:#x}</code></td><td>{_e(size_text(made.size))}</td>"
                   f"<td>{_e(_FS_TEXT[made.label])}, made by the firmware at boot from the end of the "
                   "table to the end of the flash</td></tr>")
    files = "\n".join(
        f"<tr><td><code>{_e(s.name)}</code></td><td>{'' if s.offset is None else f'<code>{s.offset:#x}</code>'}</td>"
        f"<td>{_e(size_text(s.size))}</td><td><code class=\"sum\">{_e(s.sha256)}</code></td></tr>" for s in sums)
    chip = info.get("chip") or chips.default().key
    folder = f"dist/{info.get('profile', '?')}-{release.get('version', '?')}"
    by_hand = (f"<code>invoke flash --port PORT --firmware {_e(folder)}</code>, or in this folder "
               f"<code>esptool --chip {_e(chip)} --port PORT write-flash @flash_args</code>")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(heading)}</title>
<link rel="icon" href="data:,">
<script type="module" src="{_e(script_src)}"></script>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 62rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5rem 0 1.5rem; }}
th, td {{ text-align: left; padding: 0.2rem 0.8rem 0.2rem 0; vertical-align: top; }}
code.sum {{ font-size: 0.8rem; word-break: break-all; }}
.note {{ background: #fff6d6; padding: 0.6rem 1rem; border-left: 4px solid #e0b400; }}
.warn {{ background: #fde8e6; padding: 0.6rem 1rem; border-left: 4px solid #c62828; margin: 0.5rem 0 1rem; }}
[hidden] {{ display: none !important; }}
svg text {{ font: 12px ui-monospace, monospace; }}
</style>
</head>
<body>
<h1>{_e(heading)}</h1>
<p>{_e(info.get("profile", "?"))}: board {_e(info.get("board", "?"))}, release {_e(release.get("version", "?"))}.</p>

<h2>Install from this browser</h2>
<p>Connect the board by USB, then press the button and pick its serial port
(Chrome, Edge or Opera on a desktop; the page must come from <code>localhost</code> or https).</p>
{_warning(table, fs or made, sums, chip, by_hand)}
<esp-web-install-button manifest="{_e(manifest)}"></esp-web-install-button>
<div id="installer-missing" class="note" role="alert" hidden>
<p><strong>The installer could not be loaded.</strong> This page loads ESP Web Tools (the
install button) from {_e(_script_place(script_src))}, and the browser could not load or run it:
{_e(_script_reason(script_src))}.</p>
<p>What to do: {_e(_script_fix(script_src))}, then reload this page.
Or flash from a terminal, with the board on USB: {by_hand}.</p>
</div>
<p class="note">The browser does not check what it wrote. Afterwards, prove the board runs this firmware:
<code>invoke verify --port PORT --firmware {_e(folder)}</code>
(the path of this folder).</p>

<h2>The firmware</h2>
<table>
{facts}
</table>

<h2>Flash layout</h2>
{_svg(table, flash_bytes, table_offset, boot, fs, made)}
<table>
<tr><th>Partition</th><th>Type/subtype</th><th>Offset</th><th>Size</th><th>Holds</th></tr>
{layout}
</table>

<h2>Files</h2>
<table>
<tr><th>File</th><th>Offset</th><th>Size</th><th>SHA-256</th></tr>
{files}
</table>
<script id="installer-check">
// No install button: say why (ESP Web Tools did not load) and what to do instead.
(function () {{
  var name = "esp-web-install-button";
  function check() {{
    document.getElementById("installer-missing").hidden = customElements.get(name) !== undefined;
  }}
  window.addEventListener("load", check);
  setTimeout(check, 10000);  // a request a blocker holds open keeps "load" from firing
  customElements.whenDefined(name).then(check);
}})();
</script>
</body>
</html>
"""


def _flash_bytes(label) -> int | None:
    text = str(label or "").upper()
    if text.endswith("MB") and text[:-2].isdigit():
        return int(text[:-2]) * 1024 * 1024
    return None


def _kind(p: partitions.Partition) -> str:
    """The table's type/subtype, e.g. "data/fat"."""
    for type_name, code in partitions.TYPES.items():
        if code == p.type:
            sub = {v: k for k, v in partitions.SUBTYPES.get(code, {}).items()}.get(p.subtype, f"{p.subtype:#x}")
            return f"{type_name}/{sub}"
    return f"{p.type:#x}/{p.subtype:#x}"


# What MicroPython keeps in a filesystem partition, by its label: it mounts `vfs`, else
# `ffat`, whatever the subtype, and formats vfs as LittleFS v2, ffat as FAT
# (docs/web-install.md, docs/partitions.md). The table's "data/fat" is not the format.
_FS_TEXT = {"vfs": "LittleFS filesystem", "ffat": "FAT filesystem"}
_FS_SHORT = {"vfs": "LittleFS", "ffat": "FAT"}
# What MicroPython keeps in NVS (docs/web-install.md).
_NVS_TEXT = "settings saved with esp32.NVS, such as WiFi credentials a program stored there"


def _holds(p: partitions.Partition, fs: partitions.Partition | None) -> str:
    """What a partition holds on a MicroPython board, in a few words."""
    if fs is not None and p == fs:
        note = "" if p.subtype == partitions.SUBTYPES[partitions.DATA]["littlefs"] or p.label != "vfs" else \
            f" (the table's {_kind(p)} is only a label: MicroPython formats vfs as LittleFS)"
        return f"{_FS_TEXT[p.label]}: the files on the board{note}"
    if p.type == partitions.APP:
        return "app slot: MicroPython"
    return {partitions.SUBTYPES[partitions.DATA]["nvs"]: f"NVS: {_NVS_TEXT}",
            partitions.SUBTYPES[partitions.DATA]["phy"]: "radio (PHY) init data",
            partitions.SUBTYPES[partitions.DATA]["ota"]: "which app slot boots"}.get(p.subtype, "") \
        if p.type == partitions.DATA else ""


def _made_at_boot(table: list[partitions.Partition], flash_size: int | None,
                  fs_made_at_boot: bool) -> partitions.Partition | None:
    """The vfs the firmware makes at boot when the table has none (v1.26 on), for this
    flash size; None when the firmware makes none or the size is unknown."""
    if not fs_made_at_boot or not flash_size or not table:
        return None
    return partitions.filesystem_region(table, flash_size, auto_vfs=True)


def _warning(table: list[partitions.Partition], fs: partitions.Partition | None, sums: list[Sum],
             chip: str, by_hand: str) -> str:
    """What each way of installing keeps and erases, true to this table and firmware.bin."""
    data = partitions.DATA
    nvs = [p for p in table if p.type == data and p.subtype == partitions.SUBTYPES[data]["nvs"]]
    nvs_where = ", ".join(f"{_e(p.label)} at <code>{p.offset:#x}</code>" for p in nvs) or "none in this table"
    files = (f"the {_FS_TEXT[fs.label]} ({_e(fs.label)} at <code>{fs.offset:#x}</code>)" if fs is not None
             else "no filesystem in this table")
    items = [f"<li><strong>The Install button</strong> writes the bootloader, the partition table and the "
             f"app, each at its own offset. NVS ({nvs_where}: {_e(_NVS_TEXT)}) and the files in {files} are "
             "kept. Its dialog then asks whether to <strong>erase the device</strong>: ticking "
             "&ldquo;Erase device&rdquo; erases the whole flash first, NVS and every file on the board "
             "included.</li>"]
    merged = next((s for s in sums if s.name == MERGED and s.offset is not None), None)
    if merged is not None:
        start, end = merged.offset, merged.offset + merged.size
        hit = [p for p in sorted(table, key=lambda p: p.offset)
               if p.type == data and p.offset < end and p.end > start and p is not fs]
        lost = f"It writes 0xFF over {', '.join(_e(p.label) for p in hit)}" if hit else "It covers no data partition"
        if any(p in nvs for p in hit):
            lost += f": {_e(_NVS_TEXT)}, are lost"
        if fs is not None and fs.offset < end and fs.end > start:
            kept = f"It also covers {files}: the files on the board are lost."
        elif fs is not None:
            kept = f"The files in {files} lie beyond it and are kept."
        else:
            kept = ""
        items.append(f"<li><strong><code>{MERGED}</code></strong>, the merged image (<code>esptool --chip "
                     f"{_e(chip)} --port PORT write-flash {start:#x} {MERGED}</code>), covers <code>{start:#x}"
                     f"</code> to <code>{end:#x}</code>. {lost}. {kept}</li>")
    items.append(f"<li><strong>From a terminal</strong>: {by_hand}. Both write the separate images, as the "
                 "button does: NVS and the files are kept.</li>")
    return ('<div id="install-warning" class="warn">\n<p><strong>Before you install: what is kept and what is '
            "erased.</strong></p>\n<ul>\n" + "\n".join(items) + "\n</ul>\n</div>")


def _script_place(src: str) -> str:
    host = urlsplit(src).hostname if src.startswith(("https://", "http://")) else None
    return host or f"{src}, a file in this folder"


def _script_reason(src: str) -> str:
    if src.startswith(("https://", "http://")):
        return ("there is no network connection, or a blocker (an ad or script blocker, a firewall or "
                "proxy) stopped the request")
    return "the file is missing, or a blocker stopped it"


def _script_fix(src: str) -> str:
    if src.startswith(("https://", "http://")):
        return f"connect to the network and allow {_script_place(src)} in any blocker"
    return "check the folder is whole (sha256sum -c SHA256SUMS in it) and allow scripts from this page"


_COLOURS = {"app": "#7aa7e0", "data/nvs": "#f0a35e", "data/phy": "#c9c9c9", "data/ota": "#d6b4f0"}


def _colour(p: partitions.Partition) -> str:
    return _COLOURS.get(_kind(p), "#7ccf8a" if p.type == partitions.DATA else "#7aa7e0")


def _box(cls: str, name: str, offset: int, size: int, colour: str, scale: float, y: float, shift: int = 0,
         label: bool = False) -> str:
    x, w = (offset - shift) * scale, max(size * scale, 1.0)  # under a pixel: drawn 1 px wide to be seen
    tip = f"{name}: {offset:#x}, {size_text(size)}"
    rect = (f'<rect class="{cls}" data-name="{_e(name)}" data-offset="{offset:#x}" data-size="{size}" '
            f'x="{x:.2f}" y="{y}" width="{w:.2f}" height="{_BAR_H}" fill="{colour}" stroke="#333" '
            f'stroke-width="0.5"><title>{_e(tip)}</title></rect>')
    if label and w > 8 * (len(name) + 1):  # the name inside the box when it fits
        rect += f'<text x="{x + 4:.2f}" y="{y + _BAR_H / 2 + 4}">{_e(name)}</text>'
    return rect


def _svg(table: list[partitions.Partition], flash_size: int | None, table_offset: int, boot: int,
         fs: partitions.Partition | None = None, made: partitions.Partition | None = None) -> str:
    """The flash drawn to scale: one box per partition (class "partition"), the bootloader
    and table in front of them, and a label row per partition linked to its box; the
    filesystem labelled by its format. A vfs the firmware makes at boot (not in the
    table) is a box of class "made-at-boot". Below it, the start of the flash up to the
    first app, enlarged (class "zoom"), where the small partitions (nvs, phy_init,
    otadata) are too narrow to see at full scale."""
    ordered = sorted(table + ([made] if made is not None else []), key=lambda p: p.offset)
    total = max([flash_size or 0, *(p.end for p in ordered)])
    scale = _SVG_WIDTH / total
    shapes = [_box("reserved", "bootloader", boot, table_offset - boot, "#9e9e9e", scale, _BAR_Y),
              _box("reserved", "partition table", table_offset, partitions.TABLE_SECTOR, "#616161", scale, _BAR_Y)]
    labels = []
    for row, p in enumerate(ordered):
        shapes.append(_box("made-at-boot" if p is made else "partition", p.label, p.offset, p.size, _colour(p),
                           scale, _BAR_Y))
        what = f"{_FS_SHORT[p.label]}, made at boot" if p is made else \
            f"{_FS_SHORT[p.label]}, {_kind(p)}" if fs is not None and p == fs else _kind(p)
        mid = (p.offset + p.size / 2) * scale
        y = _BAR_Y + _BAR_H + 18 + row * _ROW
        x = min(max(mid, 4.0), _SVG_WIDTH - 330)
        labels.append(f'<polyline points="{mid:.2f},{_BAR_Y + _BAR_H} {mid:.2f},{y - 10} {x:.2f},{y - 10}" '
                      f'fill="none" stroke="#888" stroke-width="0.8"/>'
                      f'<text x="{x + 2:.2f}" y="{y + 2}">{_e(p.label)} {p.offset:#x} {_e(size_text(p.size))}'
                      f' ({_e(what)})</text>')
    height = _BAR_Y + _BAR_H + 18 + len(ordered) * _ROW + 4
    apps = [p.offset for p in ordered if p.type == partitions.APP]
    zoom_end = min(apps) if apps else 0
    if zoom_end > table_offset + partitions.TABLE_SECTOR and zoom_end * scale < _SVG_WIDTH / 4:
        zoom = _SVG_WIDTH / zoom_end
        y = height + 18
        labels.append(f'<text x="0" y="{y - 6}">0x0 to {zoom_end:#x} enlarged</text>')
        labels.append(_box("zoom", "bootloader", boot, table_offset - boot, "#9e9e9e", zoom, y, label=True))
        labels.append(_box("zoom", "table", table_offset, partitions.TABLE_SECTOR, "#616161", zoom, y, label=True))
        labels += [_box("zoom", p.label, p.offset, p.size, _colour(p), zoom, y, label=True)
                   for p in ordered if p.end <= zoom_end]
        height = y + _BAR_H + 6
    end = f"{total:#x} ({size_text(total)})"
    return (f'<svg id="flash-layout" xmlns="http://www.w3.org/2000/svg" role="img" width="{_SVG_WIDTH + 8}" '
            f'height="{height}" viewBox="-4 0 {_SVG_WIDTH + 8} {height}">'
            f'<title>Flash layout, {_e(end)}, to scale</title>\n'
            + "\n".join(shapes + labels) + "\n</svg>")
