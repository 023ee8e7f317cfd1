"""Partition layouts: a profile's [partitions] section, the table it gives on
each release line, and the checks of a table against the profile.

    [partitions]
    app = "4MB"      # size of each app slot (default: the port's 0x1F0000)
    ota = true       # two app slots (ota_0, ota_1) and otadata instead of factory
    fs = "rest"      # the filesystem: "rest" of the flash (default) or a size
    # or:  csv = "my-table.csv"   the user's own table, used as it is

The rendered table keeps the shape of the port's own tables (docs/partitions.md):
nvs at 0x9000 right after the table (MicroPython's makeimg.py measures the
table's room up to the partition labelled "nvs"), the first app at 0x10000,
the filesystem labelled "vfs" (the label the port's flashbdev.py looks for on
every release). Without the section a profile gets exactly the port's layout
(DEFAULT), whose plan equals partitions-<N>MiB.csv / -4MiBplus.csv.

This module is the one place that knows layouts: profiles parse with it, the
overlay renders with it, config and verify check with it, and the judge
(image/judge.py) finds the app's slot with it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from mpforge.text import size_text
from mpforge.errors import UserError
from mpforge.image import partitions
from mpforge.image.partitions import APP, DATA, Partition

MB = 1024 * 1024
APP_ALIGN = 0x10000  # app partitions start on 64 KB (the MMU page; gen_esp32part.py enforces it)
FIRST_APP = 0x10000  # where the port's tables put the first app
DEFAULT_APP = 0x1F0000  # the port's factory partition, every release line
# The smallest app slot accepted before a build: a MicroPython v1.22-v1.28
# ESP32_GENERIC_S3 app (BLE, USB, PSRAM) is about 1.5-1.7 MB, the port's own
# 4MiB-ota table gives 0x180000 per slot.
MIN_APP_SIZE = 0x180000
# Room the app partition must keep free beyond a built app: one 64 KB unit, so
# a small fix of the same firmware still fits the table already on the board.
APP_MARGIN = 0x10000
FS_LABEL = "vfs"
SUBTYPE_OTA_0 = 0x10
SUBTYPE_OTA_DATA = 0x00
KEYS = ("app", "ota", "fs", "csv")


@dataclass(frozen=True)
class Layout:
    """A validated [partitions] section (or DEFAULT: the port's own layout)."""

    app: int = DEFAULT_APP  # bytes per app slot
    ota: bool = False
    fs: int | None = None  # bytes; None: the rest of the flash
    csv: Path | None = None  # the user's own table
    csv_text: str | None = None  # its content, read when the profile is loaded

    @property
    def is_default(self) -> bool:
        return self == DEFAULT

    def describe(self) -> str:
        if self.csv is not None:
            return f"own table {self.csv.name}"
        slots = f"2 x {_mb(self.app)} app (OTA)" if self.ota else f"{_mb(self.app)} app"
        return f"{slots}, fs {'rest of flash' if self.fs is None else _mb(self.fs)}"

    def as_dict(self) -> dict:
        if self.csv is not None:
            return {"csv": self.csv.name}
        return {"app": self.app, "ota": self.ota, "fs": "rest" if self.fs is None else self.fs}


DEFAULT = Layout()


def _mb(size: int | None) -> str:
    return size_text(size, space=False)


# ---- the profile's section ---------------------------------------------------------

def from_section(section: dict, where: str, flash_size: int, min_fs: int, base: Path | None,
                 parse_size) -> Layout:
    """The [partitions] section, validated for the profile's flash; one-line errors.

    base is the profile's folder (None for a profile kept in a dist folder: its
    own table is then not read)."""
    for key, value in section.items():
        if key not in KEYS:
            raise UserError(f"{where}: unknown key 'partitions.{key}'; [partitions] takes {', '.join(KEYS)}")
        kind = bool if key == "ota" else str
        if not isinstance(value, kind) or (kind is str and isinstance(value, bool)):
            raise UserError(f"{where}: 'partitions.{key}' must be a {'boolean' if kind is bool else 'string'}")
    if "csv" in section:
        mixed = [k for k in ("app", "ota", "fs") if k in section]
        if mixed:
            raise UserError(f"{where}: 'partitions.csv' is the whole table; drop 'partitions.{mixed[0]}' "
                            "(or drop csv and let mpforge make the table)")
        return _own_table(section["csv"], where, flash_size, base)
    app = parse_size(section["app"], f"{where}: 'partitions.app'") if "app" in section else DEFAULT_APP
    if app % APP_ALIGN:
        raise UserError(f"{where}: 'partitions.app' is {app:#x} bytes, not a multiple of 64 KB "
                        f"(app partitions are placed on 64 KB; try {_mb(-(-app // APP_ALIGN) * APP_ALIGN)})")
    if app < MIN_APP_SIZE:
        raise UserError(f"{where}: 'partitions.app' is {_mb(app)}; MicroPython needs at least {_mb(MIN_APP_SIZE)}")
    fs_text = section.get("fs", "rest")
    fs = None if fs_text.strip().lower() == "rest" else parse_size(fs_text, f"{where}: 'partitions.fs'")
    layout = Layout(app=app, ota=bool(section.get("ota", False)), fs=fs)
    apps_end = app_end(layout)
    slots = "two app slots" if layout.ota else "the app"
    if apps_end > flash_size:
        raise UserError(f"{where}: [partitions] needs {_mb(apps_end)} for {slots} of {_mb(app)}, more than "
                        f"the {_mb(flash_size)} flash; use a smaller 'partitions.app'"
                        + (", or ota = false" if layout.ota else ""))
    room = flash_size - apps_end
    if fs is not None and fs > room:
        raise UserError(f"{where}: 'partitions.fs' is {_mb(fs)}, but {slots} leave {_mb(room)} of the "
                        f"{_mb(flash_size)} flash; use fs = \"rest\" or a smaller size")
    if (fs if fs is not None else room) < min_fs:
        raise UserError(f"{where}: [partitions] leaves {_mb(fs if fs is not None else room)} for the filesystem "
                        f"after {slots} of {_mb(app)}, below verify.min_fs_size {_mb(min_fs)}; use a smaller "
                        "'partitions.app'" + (", ota = false" if layout.ota else "") + " or lower min_fs_size")
    if fs is not None and fs % 0x1000:
        raise UserError(f"{where}: 'partitions.fs' must be a multiple of 4 KB (a flash sector)")
    return layout


def _own_table(name: str, where: str, flash_size: int, base: Path | None) -> Layout:
    if base is None:
        return Layout(csv=Path(name))
    path = (base / name).resolve()
    if not path.is_relative_to(base.resolve()):  # a shared profile reads no file of yours elsewhere
        raise UserError(f"{where}: 'partitions.csv' must name a file in the profile's folder "
                        f"{base}, not {name!r}; copy the table there")
    if not path.is_file():
        raise UserError(f"{where}: 'partitions.csv' names {path}, which does not exist")
    try:
        text = path.read_text()
        table = partitions.parse_csv(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{where}: 'partitions.csv' {path} cannot be read ({exc})") from None
    except ValueError as exc:
        raise UserError(f"{where}: 'partitions.csv' {path.name}: {exc}") from None
    found = partitions.problems(table, flash_size)
    if found:
        raise UserError(f"{where}: 'partitions.csv' {path.name}: {found[0]}")
    return Layout(csv=path, csv_text=text)


# ---- the table ---------------------------------------------------------------------

def app_end(layout: Layout) -> int:
    """Where the app slots end (where the filesystem starts)."""
    return FIRST_APP + layout.app * (2 if layout.ota else 1)


def plan(layout: Layout, flash_size: int, fs_made_at_boot: bool = False) -> list[Partition]:
    """The partitions of a mpforge layout. With fs "rest" on a line whose firmware
    creates the filesystem at boot (fs_made_at_boot), the vfs line is left out,
    as in the port's own tables there: the firmware then fills the real flash."""
    if layout.csv is not None:
        raise ValueError("an own table is not planned")
    if layout.ota:
        table = [Partition("nvs", DATA, 0x02, 0x9000, 0x4000),
                 Partition("otadata", DATA, SUBTYPE_OTA_DATA, 0xD000, 0x2000),
                 Partition("phy_init", DATA, 0x01, 0xF000, 0x1000),
                 Partition("ota_0", APP, SUBTYPE_OTA_0, FIRST_APP, layout.app),
                 Partition("ota_1", APP, SUBTYPE_OTA_0 + 1, FIRST_APP + layout.app, layout.app)]
    else:
        table = [Partition("nvs", DATA, 0x02, 0x9000, 0x6000),
                 Partition("phy_init", DATA, 0x01, 0xF000, 0x1000),
                 Partition("factory", APP, 0x00, FIRST_APP, layout.app)]
    start = app_end(layout)
    if layout.fs is not None or not fs_made_at_boot:
        table.append(Partition(FS_LABEL, DATA, 0x81, start, layout.fs if layout.fs is not None else flash_size - start))
    return table


_SUBTYPE_NAMES = {(t, code): name for t, names in partitions.SUBTYPES.items() for name, code in names.items()}


def csv_text(table: list[Partition], title: str) -> str:
    """The table in the port's CSV form."""
    lines = [f"# {title}", "# Written by `invoke overlay` (mpforge); `invoke overlay --revert` removes it.",
             "# Name,   Type, SubType, Offset,   Size,     Flags"]
    for p in table:
        kind = {APP: "app", DATA: "data"}.get(p.type, hex(p.type))
        sub = _SUBTYPE_NAMES.get((p.type, p.subtype), hex(p.subtype))
        lines.append(f"{p.label + ',':<9} {kind + ',':<5} {sub + ',':<8} {p.offset:#x}, {p.size:#x},")
    return "\n".join(lines) + "\n"


def render(layout: Layout, flash_size: int, facts: dict, title: str) -> str:
    """The CSV for a release line (facts: the line's overlay.toml [layout])."""
    if layout.csv is not None:
        if layout.csv_text is None:
            raise UserError(f"the profile's own partition table {layout.csv} was not read; load the profile "
                            "from its file in boards/")
        return layout.csv_text
    return csv_text(plan(layout, flash_size, bool(facts.get("fs_made_at_boot"))), title)


def with_built_table(layout: Layout | None, built: object) -> Layout | None:
    """An own-table layout whose CSV is not at hand (a profile kept in a dist folder),
    completed from the table the dist records (build-info.json's layout.partitions)."""
    if layout is None or layout.csv is None or layout.csv_text is not None or not isinstance(built, list):
        return layout
    try:
        table = [Partition(str(p["label"]), int(p["type"]), int(p["subtype"]), int(p["offset"]), int(p["size"]))
                 for p in built]
    except (KeyError, TypeError, ValueError):
        return layout  # verify then says the table is not at hand
    return replace(layout, csv_text=csv_text(table, f"{layout.csv.name}, as built"))


def expected(layout: Layout, flash_size: int, facts: dict) -> list[Partition] | None:
    """The table a board built with this layout should have (None: the own table is not at hand)."""
    if layout.csv is not None:
        return partitions.parse_csv(layout.csv_text) if layout.csv_text is not None else None
    return plan(layout, flash_size, bool(facts.get("fs_made_at_boot")))


# ---- checks of a table --------------------------------------------------------------

def apps(table: list[Partition]) -> list[Partition]:
    return [p for p in table if p.type == APP]


def ota_slots(table: list[Partition]) -> list[Partition]:
    return [p for p in table if p.type == APP and SUBTYPE_OTA_0 <= p.subtype < SUBTYPE_OTA_0 + 16]


def filesystem_size(table: list[Partition], flash_size: int, made_at_boot: bool) -> tuple[int, str]:
    """(bytes, where) of the filesystem the firmware mounts from this table."""
    vfs = partitions.filesystem(table)
    if vfs is not None:
        return vfs.size, f"partition {vfs.label}"
    if made_at_boot:  # where flash puts the board's files too (partitions.filesystem_region)
        region = partitions.filesystem_region(table, flash_size, auto_vfs=True)
        end = max(t.end for t in table)
        return (region.size if region else 0), f"made at boot: {_mb(flash_size)} flash - table end {end:#x}"
    return 0, "no vfs partition"


def filesystem_span(table: list[Partition], flash_size: int, made_at_boot: bool) -> tuple[int, int] | None:
    """(offset, size) of the filesystem partition a board with this table has once booted."""
    region = partitions.filesystem_region(table, flash_size, auto_vfs=made_at_boot)
    return (region.offset, region.size) if region else None


def line_facts(version: str) -> dict:
    """The [layout] facts of a release's line (overlays/<line>/overlay.toml)."""
    from mpforge.model import lines, releases

    return lines.load(releases.get(version).line).spec.get("layout", {})


def app_needed(built_app: int | None) -> int:
    """The smallest app slot that holds the built app (or, before a build, MicroPython's)."""
    return max(MIN_APP_SIZE, built_app + APP_MARGIN) if built_app else MIN_APP_SIZE


def check(table: list[Partition], flash_size: int, min_fs: int, fs_made_at_boot: bool,
          built_app: int | None = None, table_offset: int = partitions.TABLE_OFFSET) -> list[tuple[str, str, str, bool]]:
    """(setting, want, got, ok) rows: fits the flash, no overlaps, apps aligned; every
    app slot holds the app with the margin; OTA slots equal; the filesystem big enough."""
    rows = []
    found = partitions.problems(table, flash_size)
    found += [f"partition {t.label} at {t.offset:#x} overlaps the table at {table_offset:#x}"
              for t in table if t.offset < table_offset + partitions.TABLE_SECTOR]
    rows.append(("partition table valid", f"fits {_mb(flash_size)}, no overlaps, apps on 64 KB",
                 found[0] if found else "ok", not found))
    slots = apps(table)
    need = app_needed(built_app)
    why = f"built app {_mb(built_app)} + {_mb(APP_MARGIN)} margin" if built_app else "MicroPython's app"
    smallest = min(slots, key=lambda p: p.size) if slots else None
    rows.append(("app partition", f">= {_mb(need)} ({why})",
                 f"{smallest.label} {_mb(smallest.size)}" if smallest else "none",
                 bool(smallest and smallest.size >= need)))
    ota = ota_slots(table)
    if ota:
        sizes = sorted({p.size for p in ota})
        has_data = any(p.type == DATA and p.subtype == SUBTYPE_OTA_DATA for p in table)
        got = ", ".join(f"{p.label} {_mb(p.size)}" for p in ota) + ("" if has_data else "; no otadata")
        rows.append(("OTA slots", "2+ equal slots and otadata", got, len(ota) >= 2 and len(sizes) == 1 and has_data))
    size, where = filesystem_size(table, flash_size, fs_made_at_boot)
    rows.append(("filesystem", f">= {_mb(min_fs)}", f"{_mb(size)} ({where})", size >= min_fs))
    return rows


def app_slot(table: list[Partition], offset: int) -> Partition | None:
    """The app partition that starts at offset (where flasher_args.json puts the app)."""
    return partitions.find(table, APP, offset=offset)
