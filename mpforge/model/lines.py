"""Release lines: the releases that share one overlay mechanism.

Everything mpforge knows about a line is data in overlays/<line>/overlay.toml
(docs/micropython-esp32.md §2, §3, §8); this module reads it into one Line.
A line is any folder of overlays/ with an overlay.toml: adding one needs no code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mpforge import PROJECT_ROOT
from mpforge.errors import UserError
from mpforge.model import read_toml

OVERLAYS_DIR = PROJECT_ROOT / "overlays"
VARIANT_MECHANISMS = ("if-block", "variant-file")


@dataclass(frozen=True)
class Line:
    name: str  # the folder in overlays/, e.g. "v1.26"
    folder: Path
    note: str
    variant_mechanism: str  # "if-block" (nothing checks the variant) | "variant-file" (the port does)
    partitions: dict[str, str]  # flash size label ("16MB") -> the port's partition CSV
    build_id_since: str  # the release that added sys.implementation._build
    vfs_at_boot: bool  # the firmware creates the vfs partition to the end of flash at boot
    spec: dict  # overlay.toml as read: [files], [edit], ...
    mcu_name: str = ""  # MICROPY_HW_MCU_NAME of the line's firmware ("" = the chip's, chips.toml)
    present: tuple[str, ...] = ()  # upstream files (under ports/esp32) the line relies on
    absent: tuple[str, ...] = ()  # upstream files whose return means the tree is not of this line
    kconfig_since: dict = None  # Kconfig symbol -> {"idf": first IDF with it, "why": ...}
    contains: dict = None  # upstream file -> text it must hold (how an if-block line declares variants)

    @property
    def port_checks_variant(self) -> bool:
        return self.variant_mechanism == "variant-file"


def names() -> list[str]:
    """Every release line there is an overlay for."""
    return sorted(p.parent.name for p in OVERLAYS_DIR.glob("*/overlay.toml"))


_cache: dict[tuple, Line] = {}


def load(name: str) -> Line:
    """The line's facts from overlays/<name>/overlay.toml, checked; read once per run
    (keyed by size and mtime, so an edited file is read again)."""
    path = OVERLAYS_DIR / name / "overlay.toml"
    try:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
    except OSError:
        key = None
    if key in _cache:
        return _cache[key]
    spec = read_toml(path, missing=f"overlay: no overlay for release line {name} ({path} is missing)")
    mechanism = spec.get("variant_mechanism")
    if mechanism not in VARIANT_MECHANISMS:
        raise UserError(f"{path}: 'variant_mechanism' must be one of {', '.join(VARIANT_MECHANISMS)}")
    vfs_at_boot = (spec.get("layout") or {}).get("fs_made_at_boot")
    if not isinstance(spec.get("build_id_since"), str) or not isinstance(vfs_at_boot, bool):
        raise UserError(f"{path}: needs 'build_id_since' (a release) and [layout] 'fs_made_at_boot' (true or false)")
    upstream, since = spec.get("upstream") or {}, spec.get("kconfig_since") or {}
    lists = [upstream.get(k, []) for k in ("present", "absent")]
    contains = upstream.get("contains", {})
    if not all(isinstance(v, list) and all(isinstance(f, str) for f in v) for v in lists) or \
            not all(isinstance(v, dict) and isinstance(v.get("idf"), str) for v in since.values()) or \
            not isinstance(contains, dict) or not all(isinstance(v, str) and v for v in contains.values()):
        raise UserError(f"{path}: [upstream] present/absent must be lists of paths, [upstream.contains] "
                        "paths to a text, and each [kconfig_since.<SYMBOL>] needs 'idf'")
    line = Line(name, path.parent, spec.get("note", ""), mechanism, dict(spec.get("partitions", {})),
                spec["build_id_since"], vfs_at_boot, spec, str(spec.get("mcu_name", "")),
                tuple(lists[0]), tuple(lists[1]), dict(since), dict(contains))
    _cache[key] = line
    return line
