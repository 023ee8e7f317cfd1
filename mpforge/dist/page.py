"""index.html of a dist folder: install the firmware from a browser (ESP Web Tools)
and see what it is.

`render(...)` returns the page as text. Every value on it comes from a profile,
build-info.json or the partition table, so every value is HTML-escaped (`_e`);
nothing is taken as markup. The only script is ESP Web Tools' install button,
from `script_src` (a setting: the official CDN by default, or a local copy).
Facts about ESP Web Tools the page relies on: docs/web-install.md.
"""

from __future__ import annotations

from html import escape

from mpforge.dist import Sum
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
           bootloader_offset: int | None = None) -> str:
    """The page for a dist: `info` is its build-info.json, `table` its partition table,
    `bootloader_offset` the chip's (where firmware.bin goes; default: the default chip's)."""
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
    layout = "\n".join(
        f"<tr><td>{_e(p.label)}</td><td>{_e(_kind(p))}</td><td><code>{p.offset:#x}</code></td>"
        f"<td>{_e(size_text(p.size))}</td></tr>" for p in sorted(table, key=lambda p: p.offset))
    files = "\n".join(
        f"<tr><td><code>{_e(s.name)}</code></td><td>{'' if s.offset is None else f'<code>{s.offset:#x}</code>'}</td>"
        f"<td>{_e(size_text(s.size))}</td><td><code class=\"sum\">{_e(s.sha256)}</code></td></tr>" for s in sums)
    chip = info.get("chip") or chips.default().key
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
svg text {{ font: 12px ui-monospace, monospace; }}
</style>
</head>
<body>
<h1>{_e(heading)}</h1>
<p>{_e(info.get("profile", "?"))}: board {_e(info.get("board", "?"))}, release {_e(release.get("version", "?"))}.</p>

<h2>Install from this browser</h2>
<p>Connect the board by USB, then press the button and pick its serial port
(Chrome, Edge or Opera on a desktop; the page must come from <code>localhost</code> or https).</p>
<esp-web-install-button manifest="{_e(manifest)}"></esp-web-install-button>
<p>The install writes the bootloader, the partition table and the app at their own
offsets: the NVS partition (WiFi credentials, settings) and the filesystem are kept
unless you choose to erase the device.</p>
<p class="note">The browser does not check what it wrote. Afterwards, prove the board runs this firmware:
<code>invoke verify --port PORT --firmware dist/{_e(info.get("profile", "?"))}-{_e(release.get("version", "?"))}</code>
(the path of this folder).</p>
<p>Without a browser: <code>esptool --chip {_e(chip)} write-flash {boot:#x} firmware.bin</code>
(the whole image, NVS included), or <code>invoke flash --firmware</code> with this folder.</p>

<h2>The firmware</h2>
<table>
{facts}
</table>

<h2>Flash layout</h2>
{_svg(table, _flash_bytes(flash.get("size")), table_offset, boot)}
<table>
<tr><th>Partition</th><th>Type</th><th>Offset</th><th>Size</th></tr>
{layout}
</table>

<h2>Files</h2>
<table>
<tr><th>File</th><th>Offset</th><th>Size</th><th>SHA-256</th></tr>
{files}
</table>
</body>
</html>
"""


def _flash_bytes(label) -> int | None:
    text = str(label or "").upper()
    if text.endswith("MB") and text[:-2].isdigit():
        return int(text[:-2]) * 1024 * 1024
    return None


def _kind(p: partitions.Partition) -> str:
    for type_name, code in partitions.TYPES.items():
        if code == p.type:
            sub = {v: k for k, v in partitions.SUBTYPES.get(code, {}).items()}.get(p.subtype, f"{p.subtype:#x}")
            return f"{type_name} {sub}"
    return f"{p.type:#x} {p.subtype:#x}"


_COLOURS = {"app": "#7aa7e0", "data nvs": "#f0a35e", "data phy": "#c9c9c9", "data ota": "#d6b4f0"}


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


def _svg(table: list[partitions.Partition], flash_size: int | None, table_offset: int, boot: int) -> str:
    """The flash drawn to scale: one box per partition (class "partition"), the bootloader
    and table in front of them, and a label row per partition linked to its box. Below
    it, the start of the flash up to the first app, enlarged (class "zoom"), where the
    small partitions (nvs, phy_init, otadata) are too narrow to see at full scale."""
    ordered = sorted(table, key=lambda p: p.offset)
    total = max([flash_size or 0, *(p.end for p in ordered)])
    scale = _SVG_WIDTH / total
    shapes = [_box("reserved", "bootloader", boot, table_offset - boot, "#9e9e9e", scale, _BAR_Y),
              _box("reserved", "partition table", table_offset, partitions.TABLE_SECTOR, "#616161", scale, _BAR_Y)]
    labels = []
    for row, p in enumerate(ordered):
        shapes.append(_box("partition", p.label, p.offset, p.size, _colour(p), scale, _BAR_Y))
        mid = (p.offset + p.size / 2) * scale
        y = _BAR_Y + _BAR_H + 18 + row * _ROW
        x = min(max(mid, 4.0), _SVG_WIDTH - 330)
        labels.append(f'<polyline points="{mid:.2f},{_BAR_Y + _BAR_H} {mid:.2f},{y - 10} {x:.2f},{y - 10}" '
                      f'fill="none" stroke="#888" stroke-width="0.8"/>'
                      f'<text x="{x + 2:.2f}" y="{y + 2}">{_e(p.label)} {p.offset:#x} {_e(size_text(p.size))}'
                      f' ({_e(_kind(p))})</text>')
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
