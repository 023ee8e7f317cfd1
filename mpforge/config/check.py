"""The `config` step: the sdkconfig a build would get, resolved before the build
and checked against the profile.

1. boardcmake: the board's cmake files, run as the port runs them, give the
   ordered SDKCONFIG_DEFAULTS list and the board name (MICROPY_DEF_BOARD).
2. sdkconfig: ESP-IDF's Kconfig and kconfgen resolve that list offline.
3. Here: the settings that matter are compared with the profile, and the
   partition table the resolved config names is validated for the profile's
   flash (the IDF checkout's gen_esp32part.py when present, else mpforge's own
   reading of the CSV).

Every mismatch is a row in the table; any mismatch fails the step, so `build`
never starts with a configuration that does not match the board.
A check that passed is stamped with a digest of everything it read, so a
second run with nothing changed does not run kconfgen again.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mpforge.config import boardcmake
from mpforge.source import gitsrc, idf
from mpforge.source import toolchain
from mpforge.build import cmodules, overlay
from mpforge.image import layout, partitions
from mpforge.config import sdkconfig
from mpforge.config import upstream
from mpforge import state
from mpforge.results import StepResult
from mpforge.errors import UserError
from mpforge.model.settings import Job

STEP = "config"
# MicroPython's tables all start at 0x9000: they assume the table at 0x8000.
TABLE_OFFSET = partitions.TABLE_OFFSET
FLASH_MODES = ("QIO", "QOUT", "DIO", "DOUT", "OPI")
MB = 1024 * 1024


@dataclass
class Row:
    setting: str
    want: str
    got: str
    ok: bool


@dataclass
class Report:
    profile: str
    release: str
    idf: str
    board: str
    variant: str
    defaults: list[str]
    rows: list[Row] = field(default_factory=list)
    partitions: list[dict] = field(default_factory=list)
    filesystem: dict = field(default_factory=dict)
    layout: dict = field(default_factory=dict)  # the profile's [partitions] and the built app it was checked with
    warnings: list[str] = field(default_factory=list)
    c_modules: list[dict] = field(default_factory=list)  # the build's user C modules (cmodules.listing)

    @property
    def mismatches(self) -> list[Row]:
        return [r for r in self.rows if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def as_dict(self) -> dict:
        data = asdict(self)
        data["settings"] = data.pop("rows")
        data["ok"] = self.ok
        return data




# ---- inputs: python, IDF version, defaults ------------------------------------------

def own_python(job: Job) -> str | None:
    """The idf.python setting: a Python with ESP-IDF's kconfgen to use instead of the IDF's own environment."""
    return job.settings.idf_python


def idf_version(job: Job) -> str:
    """The checkout's version (it decides the Kconfig recipe); the IDF must be one the release accepts."""
    idf.check_compatible(job)
    found = idf.version_of(job.idf_dir)
    if found is None:
        raise UserError(STEP, f"{job.idf_dir} is not an ESP-IDF checkout (no tools/cmake/version.cmake); "
                        "run `invoke install-prereqs` or set idf.dir")
    if found != job.idf_version:
        raise UserError(STEP, f"{job.idf_dir} is ESP-IDF {found}, expected {job.idf_version} "
                        f"(micropython {job.release.version} needs {job.release.idf_min} or newer)")
    return found


def board_defaults(job: Job, idf_ver: str, env: dict | None = None) -> boardcmake.BoardDefaults:
    """The port's defaults list for this job (where the line's port checks the variant, so does this)."""
    upstream.require(job.release.facts, job.port_dir, job.profile.board)  # the line's facts hold on this tree
    cmake = boardcmake.cmake_program(env.get("PATH") if env else None)
    return boardcmake.evaluate(job.port_dir, job.profile.board, job.profile.variant,
                               check_variant=job.release.facts.port_checks_variant, idf_version=idf_ver, cmake=cmake)


def _variant_entries(job: Job) -> list[str]:
    """The defaults entries the overlay adds: its sdkconfig files, as the variant cmake lists them."""
    rendered = overlay.render(job)
    return [f"boards/{job.profile.board}/{name}" for name in rendered.files if name.startswith("sdkconfig")]


def _expected_csv(job: Job) -> str:
    return overlay.partition_csv(job)


# ---- the check ------------------------------------------------------------------------

@dataclass(frozen=True)
class _Board:
    """The board's cmake, evaluated once per task: what the check and its stamp both need."""

    version: str
    kconfig: toolchain.Kconfig  # the Python (and environment, or container) that resolves it
    defaults: boardcmake.BoardDefaults


def _evaluate(job: Job) -> _Board:
    version = idf_version(job)
    kconfig = toolchain.kconfig(job, own_python(job))
    return _Board(version, kconfig, board_defaults(job, version, kconfig.env))


def check(job: Job, board: _Board | None = None) -> Report:
    """Resolve the configuration and compare it with the profile (no printing, no writes)."""
    board = board or _evaluate(job)
    variant_entries = _variant_entries(job)  # also: the overlay exists for this pair
    resolved = sdkconfig.resolve(job.idf_dir, board.version, board.defaults.files, board.kconfig.python,
                                 board.kconfig.env, wrap=board.kconfig.wrap, scratch=job.settings.workdir / "tmp",
                                 target=job.chip.idf_target)
    return compare(job, board.version, board.defaults, resolved.values, variant_entries,
                   upstream.explain(resolved.warnings, job.release.facts, board.version))


def compare(job: Job, version: str, defaults: boardcmake.BoardDefaults, values: dict,
            variant_entries: list[str], warnings: list[str] | None = None) -> Report:
    p = job.profile
    report = Report(p.name, job.release.version, version, p.board, p.variant, list(defaults.entries),
                    warnings=list(warnings or []))
    add = report.rows.append

    def flag(name: str) -> bool:
        return values.get(name) is True

    def chosen(prefix: str, options) -> str:
        picked = [o for o in options if flag(prefix + o)]
        return "/".join(picked) if picked else "none"

    tail = list(defaults.entries[-len(variant_entries):]) if variant_entries else []
    add(Row("variant defaults last", ", ".join(variant_entries), ", ".join(tail) or "none",
            bool(variant_entries) and tail == variant_entries))
    # The board's cmake sets IDF_TARGET; unset, ESP-IDF builds for its default, the esp32.
    target = defaults.target or "esp32 (IDF_TARGET not set)"
    add(Row("IDF target", job.chip.idf_target, target, defaults.target == job.chip.idf_target))
    name = defaults.board_name
    got_name = name if name is not None else f"{boardcmake.header_board_name(job.board_dir) or 'none'} (mpconfigboard.h)"
    add(Row("board name", p.board_name, got_name, name == p.board_name))

    add(Row("flash size", p.flash_size_label, str(values.get("ESPTOOLPY_FLASHSIZE")),
            values.get("ESPTOOLPY_FLASHSIZE") == p.flash_size_label))
    # The derived ESPTOOLPY_FLASHMODE string is "dio" even for QIO (docs/esp-idf.md §5): compare the choice.
    want_mode = "OPI" if p.flash_type == "octal" else "QIO"
    got_mode = chosen("ESPTOOLPY_FLASHMODE_", FLASH_MODES)
    add(Row("flash mode", want_mode, got_mode, got_mode == want_mode))
    want_oct = p.flash_type == "octal"
    add(Row("octal flash", "yes" if want_oct else "no", "yes" if flag("ESPTOOLPY_OCT_FLASH") else "no",
            flag("ESPTOOLPY_OCT_FLASH") == want_oct))
    # Only the choice members (ESPTOOLPY_FLASHFREQ_80M); v5.2 also has helper bools like *_80M_DEFAULT.
    freqs = sorted(m.group(1) for k in values if values[k] is True
                   for m in [re.fullmatch(r"ESPTOOLPY_FLASHFREQ_(\d+M)", k)] if m)
    got_freq = "/".join(f.lower() for f in freqs) or "none"
    add(Row("flash freq", p.flash_freq, got_freq, got_freq == p.flash_freq))

    want_psram = p.psram_mode != "none"
    add(Row("PSRAM", "on" if want_psram else "off", "on" if flag("SPIRAM") else "off", flag("SPIRAM") == want_psram))
    if want_psram:
        got_pmode = {"OCT": "octal", "QUAD": "quad"}.get(chosen("SPIRAM_MODE_", ("OCT", "QUAD")), "none")
        add(Row("PSRAM mode", p.psram_mode, got_pmode, got_pmode == p.psram_mode))
        speeds = sorted(m.group(1).lower() for k in values if values[k] is True
                        for m in [re.fullmatch(r"SPIRAM_SPEED_(\d+M)", k)] if m)
        got_speed = "/".join(speeds) or "none"
        add(Row("PSRAM speed", p.psram_speed, got_speed, got_speed == p.psram_speed))
    cpu = values.get(job.chip.kconfig_cpu_mhz)
    add(Row("CPU MHz", str(p.cpu_mhz), str(cpu), cpu == p.cpu_mhz))

    want_csv = _expected_csv(job)
    got_csv = values.get("PARTITION_TABLE_CUSTOM_FILENAME") if flag("PARTITION_TABLE_CUSTOM") else None
    add(Row("partition table", want_csv, got_csv or "not custom (IDF built-in)", got_csv == want_csv))
    offset = values.get("PARTITION_TABLE_OFFSET")
    add(Row("partition table offset", hex(TABLE_OFFSET), hex(offset) if isinstance(offset, int) else str(offset),
            offset == TABLE_OFFSET))
    if got_csv:
        _check_partitions(job, report, got_csv, offset if isinstance(offset, int) else TABLE_OFFSET)
    return report


def _check_partitions(job: Job, report: Report, csv_name: str, offset: int) -> None:
    """The table fits the profile's flash, has no overlaps, holds the app and leaves the filesystem room
    (the rules are layout.check's, shared with build and flash)."""
    p, add = job.profile, report.rows.append
    csv = Path(csv_name) if Path(csv_name).is_absolute() else job.port_dir / csv_name
    try:
        table = read_table(job, csv, offset)
    except UserError as exc:
        add(Row("partition table valid", f"fits {p.flash_size_label}", exc.detail, False))
        return
    report.partitions = [{"label": t.label, "type": t.type, "subtype": t.subtype, "offset": t.offset,
                          "size": t.size} for t in table]
    made_at_boot = job.release.facts.vfs_at_boot  # docs/micropython-esp32.md §3
    built = job.build_dir / "micropython.bin"
    built_app = built.stat().st_size if built.is_file() else None
    for setting, want, got, ok in layout.check(table, p.flash_size, p.min_fs_size, made_at_boot, built_app, offset):
        add(Row(setting, want, got, ok))
    fs_size, where = layout.filesystem_size(table, p.flash_size, made_at_boot)
    report.filesystem = {"size": fs_size, "source": where, "min": p.min_fs_size}
    report.layout = {**(p.partitions or layout.DEFAULT).as_dict(), "built_app": built_app,
                     "app_margin": layout.APP_MARGIN}


def read_table(job: Job, csv: Path, offset: int) -> list[partitions.Partition]:
    """The CSV, checked by the IDF checkout's gen_esp32part.py when it has one, else read by mpforge."""
    if not csv.is_file():
        raise UserError(STEP, f"partition table {csv} does not exist")
    tool = job.idf_dir / "components" / "partition_table" / "gen_esp32part.py"
    if not tool.is_file():
        try:
            return partitions.parse_csv(csv.read_text(), offset)
        except ValueError as exc:
            raise UserError(STEP, f"{csv.name}: {exc}") from None
    with tempfile.TemporaryDirectory(prefix="mpforge-parts-") as tmp:
        out = Path(tmp) / "partition-table.bin"
        # gen_esp32part is stdlib-only and runs with any Python 3 (docs/esp-idf.md §6).
        result = subprocess.run([sys.executable, str(tool), "--flash-size", job.profile.flash_size_label,
                                 "--offset", hex(offset), str(csv), str(out)],
                                capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            lines = [l.strip() for l in (result.stderr + result.stdout).splitlines() if l.strip()]
            raise UserError(STEP, f"gen_esp32part.py rejects {csv.name}: {lines[-1] if lines else 'no message'}")
        try:
            return partitions.parse(out.read_bytes())
        except (OSError, ValueError) as exc:
            raise UserError(STEP, f"gen_esp32part.py wrote no readable table for {csv.name} ({exc})") from None


# ---- the step -------------------------------------------------------------------------

def _stamp_name(job: Job) -> str:
    return f"config-{job.key}"


def _inputs(job: Job, board: _Board) -> str:
    """A digest of everything the check reads (cheap: no kconfgen)."""
    version, defaults = board.version, board.defaults
    # Not the built app: a build must not make the next config run again (the
    # built app's fit is checked after every build, by the judge).
    tables = sorted(job.port_dir.glob("partitions*.csv")) + sorted(job.board_dir.glob("partitions*.csv"))
    return state.digest(version, job.idf_dir.resolve(), job.profile.digest, overlay.render(job).digest,
                        own_python(job) or "", *defaults.entries, *defaults.def_board, *defaults.files,
                        *tables, Path(boardcmake.__file__), Path(sdkconfig.__file__), Path(__file__))


def inputs(job: Job) -> list:
    """What the check reads, without running cmake or kconfgen: the files the board's
    cmake and the defaults come from (by size and mtime), the IDF and the overlay.
    The pipeline's up-to-date stamp hashes it."""
    boards = job.port_dir / "boards"
    shared = sorted(p for p in boards.iterdir() if p.is_file()) if boards.is_dir() else []
    idf_head = gitsrc.head(job.idf_dir) if gitsrc.is_checkout(job.idf_dir) else "not cloned"
    return [job.idf_dir.resolve(), job.idf_dir / "tools" / "cmake" / "version.cmake", idf_head,
            own_python(job) or "", overlay.render(job).digest,
            state.signature(job.board_dir, *shared, *sorted(job.port_dir.glob("partitions*.csv"))),
            job.settings.state_dir / f"{_stamp_name(job)}.json"]


def status(job: Job) -> tuple[bool, str]:
    board = _evaluate(job)
    ok, message = _stamped(job, _inputs(job, board))
    if ok:
        return ok, message
    report = check(job, board)
    if not report.ok:
        first = report.mismatches[0]
        return False, f"{len(report.mismatches)} mismatch(es), first: {first.setting} is {first.got}, want {first.want}"
    return True, f"resolved sdkconfig matches {job.profile.name}"


def _summary(report: Report) -> str:
    return f"{report.idf}, {len(report.defaults)} defaults files"


def _stamped(job: Job, inputs: str) -> tuple[bool, str]:
    """A check that passed was stamped with a digest of everything it read, and that still holds."""
    stamp = state.read(job.settings.state_dir, _stamp_name(job))
    if stamp and stamp.get("inputs") == inputs:
        return True, f"resolved sdkconfig matches {job.profile.name} ({stamp.get('summary', '')})"
    return False, "not checked since its inputs changed"


def ensure(job: Job) -> StepResult:
    """Check the configuration, the board evaluated once for the check and its stamp; the
    result carries the report (shown before its line); a mismatch fails after the report."""
    if job.settings.dry:
        return StepResult(STEP, f"would resolve the sdkconfig of {job.label} and check it against the profile")
    board = _evaluate(job)
    inputs = _inputs(job, board)
    ok, message = _stamped(job, inputs)
    if ok:
        return StepResult(STEP, message, up_to_date=True)
    return _checked(job, check(job, board), inputs)


def _checked(job: Job, report: Report, inputs: str) -> StepResult:
    """The check's result: it carries the report (shown before its line); a mismatch fails after the report."""
    try:
        return dataclasses.replace(finish(job, report, inputs), report=report)
    except UserError as exc:
        return StepResult(STEP, "", report=report, failure=exc)


def finish(job: Job, report: Report, inputs: str) -> StepResult:
    """Stamp a match, or fail in one line naming every mismatch (shown after the report)."""
    if not report.ok:
        state.clear(job.settings.state_dir, _stamp_name(job))
        bad = report.mismatches
        raise UserError(STEP, f"the resolved sdkconfig does not match profile {job.profile.name} "
                        f"({len(bad)} mismatch(es): " + "; ".join(f"{r.setting} is {r.got}, want {r.want}" for r in bad)
                        + "); the build would not give this board what it needs: fix the profile (or "
                          f"run `invoke overlay`), then {job.retry}")
    state.write(job.settings.state_dir, _stamp_name(job), {"inputs": inputs, "summary": _summary(report)})
    return StepResult(STEP, f"resolved sdkconfig matches {job.profile.name} ({_summary(report)})")


def run(job: Job) -> StepResult:
    """`invoke config`: always resolve (no stamp); the result carries the report."""
    board = _evaluate(job)  # once: the check and its stamp share it
    report = check(job, board)
    report.c_modules = cmodules.listing(job)
    return _checked(job, report, _inputs(job, board))
