"""What verify checks: the probe's report (board/repl.py) against the profile and the release.

Each check compares one thing scripts/board_probe.py read on the board:

  board name     os.uname().machine == "<build.board_name> with ESP32S3"
                 (the banner's machine string)
  release        sys.implementation.version == the release
  build id       sys.implementation._build == "<BOARD>-<VARIANT>" (the
                 attribute exists from MicroPython v1.25.0; n/a before)
  flash size     esp.flash_size() == flash.size
  PSRAM heap     PSRAM regions of esp32.idf_heap_info(HEAP_DATA) (or
                 gc.mem_free() where that is missing) >= verify.min_psram_heap
  filesystem     os.statvfs('/') total >= verify.min_fs_size
  CPU frequency  machine.freq() == cpu.mhz
  partitions     esp32.Partition: the running app is an app slot of the
                 profile's layout ([partitions], else the port's), the app
                 slots and the vfs partition have its offsets and sizes

Why all of them: from v1.26 esp.flash_size() reports the physical chip, so
a stock image on a 16 MB board also says 16 MB, and its vfs also grows to
fill the flash. Only the board name and the build id tell a stock image
from mpforge's; the other checks prove the hardware is all usable.

The checks are pure functions of (probe result, Profile, release version):
no port, no printing; verify.py runs them and ui shows the report.
"""

from __future__ import annotations

from dataclasses import dataclass

from mpforge.errors import UserError
from mpforge.model import chips, releases
from mpforge.model.profiles import Profile
from mpforge.model.releases import version_tuple
from mpforge.text import size_text


@dataclass(frozen=True)
class Check:
    """One row of the report. passed is None when the check does not apply."""

    name: str
    expected: str
    found: str
    passed: bool | None
    problem: str = ""  # why it failed, for the one-line summary

    @property
    def result(self) -> str:
        return {True: "pass", False: "FAIL", None: "n/a"}[self.passed]




def expected_machine(profile: Profile, mcu_name: str = "") -> str:
    """The banner's "<board> with <mcu>"; mcu_name: the release line's (v1.29 on), else the chip's."""
    return f"{profile.board_name} with {mcu_name or chips.get(profile.chip).mcu_name}"


def expected_build(profile: Profile) -> str:
    return f"{profile.board}-{profile.variant}"


def _missing(probe: dict, key: str) -> str:
    reason = (probe.get("errors") or {}).get(key)
    return f"unavailable ({reason})" if reason else "unavailable"


def check_board_name(probe: dict, profile: Profile, mcu_name: str = "") -> Check:
    want = expected_machine(profile, mcu_name)
    return _probe_check(probe, "machine", "board name", want, "no board name (os.uname)", lambda got: (
        got == want, got, f"board name is '{got}', not '{want}'"), number=False)


def _release_tuple(release: str) -> tuple[int, int, int] | None:
    try:
        return version_tuple(release)
    except ValueError:
        return None


def check_release(probe: dict, release: str) -> Check:
    numbers = _release_tuple(release)
    want = ".".join(map(str, numbers)) if numbers else release.lstrip("v")
    got = probe.get("version")
    if got is None:
        return Check("release", want, _missing(probe, "version"), False, "no MicroPython version")
    ok = got == want
    # Show the git tag the firmware was built from (e.g. v1.28.0-dirty) when known.
    shown = (probe.get("uname_version") or "").split(" on ")[0] or f"v{got}"
    return Check("release", f"v{want}", shown, ok,
                 "" if ok else f"it runs MicroPython {got}, not {want}")


def _build_id_since(release: str) -> str | None:
    """The release that added the build id, from the release's line (None: unknown release)."""
    known = releases.RELEASES.get(releases.normalise(release))
    return known.facts.build_id_since if known else None


def check_build(probe: dict, profile: Profile, release: str, build_id_since: str | None = None) -> Check:
    want = expected_build(profile)
    got = probe.get("build")
    numbers = _release_tuple(release)
    since = build_id_since or _build_id_since(release)
    if numbers is not None and since and numbers < version_tuple(since):
        return Check("build id", f"n/a before {since} ({want})", got or "-", None)
    if got is None:
        found = _missing(probe, "build") if (probe.get("errors") or {}).get("build") else "none"
        return Check("build id", want, found, False, "no build id (sys.implementation._build)")
    ok = got == want
    return Check("build id", want, got, ok, "" if ok else f"build id is {got}, not {want}")


def _probe_check(probe: dict, key: str, name: str, want: str, unread: str, judge, number: bool = True) -> Check:
    """A check of one value the probe reports (a number unless number=False): `unread`
    when it has none, else judge(value) -> (passed, as shown, the problem when it did not pass)."""
    got = probe.get(key)
    if not isinstance(got, int) if number else got is None:
        return Check(name, want, _missing(probe, key), False, unread)
    ok, shown, problem = judge(got)
    return Check(name, want, shown, ok, "" if ok else problem)


def check_flash(probe: dict, profile: Profile) -> Check:
    want = size_text(profile.flash_size)
    return _probe_check(probe, "flash_size", "flash size", want, "no flash size (esp.flash_size)", lambda got: (
        got == profile.flash_size, size_text(got),
        f"flash is {size_text(got)}, not {want} (a smaller chip, or firmware built for less flash)"))


def check_psram(probe: dict, profile: Profile) -> Check:
    got = probe.get("psram_heap")
    source = probe.get("psram_source") or "?"
    found = f"{size_text(got)} ({source})" if isinstance(got, int) else _missing(probe, "psram_heap")
    if profile.psram_mode == "none":
        return Check("PSRAM heap", "none in profile", found, None)
    want = f">= {size_text(profile.min_psram_heap)}"
    if not isinstance(got, int):
        return Check("PSRAM heap", want, found, False, "no heap figures")
    ok = got >= profile.min_psram_heap
    if ok:
        return Check("PSRAM heap", want, found, True)
    problem = ("no PSRAM in the heap (no PSRAM on the board, or firmware without PSRAM support)"
               if got == 0 else f"PSRAM heap is {_below(got, profile.min_psram_heap)}")
    return Check("PSRAM heap", want, found, False, problem)


def _below(got: int, least: int) -> str:
    """'5.5 MB, below 6 MB'; in bytes when the sizes would round to the same figure."""
    if size_text(got).replace(".0 ", " ") == size_text(least).replace(".0 ", " "):
        return f"{got} bytes, below {least} bytes"
    return f"{size_text(got)}, below {size_text(least)}"


def check_fs(probe: dict, profile: Profile) -> Check:
    want = f">= {size_text(profile.min_fs_size)}"
    if probe.get("fs_corrupted"):
        return Check("filesystem", want, "corrupted", False,
                     "the firmware found no filesystem it can mount ('The filesystem appears to "
                     "be corrupted'): its files were made for another layout; `invoke backup` "
                     "then `invoke restore` puts them into this one")
    return _probe_check(probe, "fs_size", "filesystem", want, "no filesystem at /", lambda got: (
        got >= profile.min_fs_size, size_text(got), f"filesystem is {_below(got, profile.min_fs_size)}"))


def check_cpu(probe: dict, profile: Profile) -> Check:
    want = f"{profile.cpu_mhz} MHz"
    return _probe_check(probe, "freq", "CPU frequency", want, "no CPU frequency (machine.freq)", lambda got: (
        got == profile.cpu_mhz * 1_000_000, f"{got / 1_000_000:g} MHz",
        f"CPU runs at {got / 1_000_000:g} MHz, not {want}"))


def check_import(probe: dict, name: str) -> Check:
    """A frozen module imports, and from the firmware, not from a file on the board."""
    got = (probe.get("imports") or {}).get(name)
    if got is None:
        return Check(f"frozen {name}", "imports", "not checked", False, f"the probe did not try {name}")
    if ":" in got and got.split(":")[0].endswith("Error"):
        return Check(f"frozen {name}", "imports", got, False, f"{name} does not import")
    if got.startswith("/"):
        return Check(f"frozen {name}", "imports", f"from {got}", False,
                     f"{name} comes from the board's filesystem ({got}), not from the firmware")
    return Check(f"frozen {name}", "imports", f"frozen ({got or 'built in'})", True)


def check_c_module(probe: dict, name: str) -> Check:
    """A C module imports, and is built in: a module of C code has no __file__ (a file
    of that name, frozen or on the board, is not the C module; docs/c-modules.md §5)."""
    got = (probe.get("imports") or {}).get(name)
    label = f"C module {name}"
    if got is None:
        return Check(label, "built in", "not checked", False, f"the probe did not try {name}")
    if ":" in got and got.split(":")[0].endswith("Error"):
        return Check(label, "built in", got, False,
                     f"the C module {name} is not in the firmware (build it with --c-module)")
    if got:
        return Check(label, "built in", f"from {got}", False, f"{name} is Python ({got}), not the C module")
    return Check(label, "built in", "built in", True)


def _part_text(label: str, offset: int, size: int) -> str:
    return f"{label} {size_text(size, space=False)} @{offset:#x}"


def check_partitions(probe: dict, profile: Profile, release: str) -> list[Check]:
    """The board's table (esp32.Partition) is the profile's layout on this release:
    the running app is one of its app slots, the app slots and the filesystem
    partition have its offsets and sizes (docs/partitions.md)."""
    from mpforge.image import layout

    names = ("running partition", "app partitions", "fs partition")
    lay = profile.partitions or layout.DEFAULT
    try:
        made_at_boot = bool(layout.line_facts(release).get("fs_made_at_boot"))
    except UserError:
        return [Check(n, "-", f"release {release} unknown to mpforge", None) for n in names]
    table = layout.expected(lay, profile.flash_size, {"fs_made_at_boot": made_at_boot})
    if table is None:
        return [Check(n, f"the table {lay.csv}", "not at hand (the profile's own CSV)", None) for n in names]
    got = probe.get("partitions")
    if not isinstance(got, dict):
        found = _missing(probe, "partitions")
        return [Check(n, lay.describe(), found, None) for n in names]
    want_apps = sorted((p.label, p.offset, p.size) for p in layout.apps(table))
    got_apps = sorted((a[4], a[2], a[3]) for a in got.get("apps") or [])
    running = got.get("running") or [None] * 5
    checks = [Check("running partition", " or ".join(label for label, _, _ in want_apps),
                    _part_text(running[4], running[2], running[3]) if running[4] else "none",
                    (running[4], running[2], running[3]) in want_apps,
                    f"the board runs {running[4]}, not an app slot of the profile's layout"),
              Check("app partitions", ", ".join(_part_text(*a) for a in want_apps),
                    ", ".join(_part_text(*a) for a in got_apps) or "none", got_apps == want_apps,
                    "the board's app partitions are not the profile's layout (flash the firmware "
                    "built for it, with its partition table)")]
    span = layout.filesystem_span(table, profile.flash_size, made_at_boot)
    fs = got.get("fs")
    want_fs = _part_text("vfs", *span) if span else "none"
    got_fs = _part_text(fs[4], fs[2], fs[3]) if fs else "none"
    checks.append(Check("fs partition", want_fs, got_fs, (fs[2], fs[3]) == span if fs and span else fs == span,
                        f"the filesystem partition is {got_fs}, not {want_fs}"))
    return [Check(c.name, c.expected, c.found, c.passed, "" if c.passed else c.problem) for c in checks]


def run_checks(probe: dict, profile: Profile, release: str, frozen_modules=(),
               build_id_since: str | None = None, c_modules=(), mcu_name: str = "") -> list[Check]:
    """Every check, in report order (the partition rows when the probe reported them;
    build_id_since: from the release's line, else looked up)."""
    return [
        check_board_name(probe, profile, mcu_name),
        check_release(probe, release),
        check_build(probe, profile, release, build_id_since),
        check_flash(probe, profile),
        check_psram(probe, profile),
        check_fs(probe, profile),
        check_cpu(probe, profile),
    ] + (check_partitions(probe, profile, release) if "partitions" in probe else []) + [
        check_import(probe, name) for name in frozen_modules] + [check_c_module(probe, name) for name in c_modules]


def failed(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.passed is False]


TABLE_HEADER = ("check", "expected", "found", "result")


def table(checks: list[Check]) -> str:
    """The report as an aligned text table (columns separated by 2+ spaces)."""
    rows = [TABLE_HEADER] + [(c.name, c.expected, c.found, c.result) for c in checks]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = []
    for r in rows:
        lines.append("  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3])
    return "\n".join("  " + line.rstrip() for line in lines)


def report(checks: list[Check], probe: dict, *, port: str, profile: Profile, release: str) -> dict:
    """The report for --json."""
    return {
        "ok": not failed(checks),
        "port": port,
        "profile": profile.name,
        "micropython": release,
        "checks": [
            {"check": c.name, "expected": c.expected, "found": c.found, "result": c.result,
             "pass": c.passed, **({"problem": c.problem} if c.problem else {})}
            for c in checks
        ],
        "probe": probe,
    }


def summary(checks: list[Check], *, port: str, profile: Profile) -> str:
    """One line naming every failure (verify says it as its error, after its step's name)."""
    bad = failed(checks)
    total = sum(1 for c in checks if c.passed is not None)
    what = "; ".join(f"{c.name}: {c.problem}" for c in bad)
    hint = ""
    names = {c.name for c in bad}
    if names & {"board name", "build id", "release"}:
        hint = f" (not the firmware built for {profile.name}: flash it with `invoke flash --port {port}`)"
    elif names & {"running partition", "app partitions", "fs partition"}:
        hint = (f" (the board's partition table is not {profile.name}'s: flash the firmware built for it "
                f"with `invoke flash --port {port}`)")
    elif names & {"flash size", "PSRAM heap", "filesystem", "CPU frequency"}:
        hint = f" (does --profile {profile.name} match this board?)"
    return f"{len(bad)} of {total} checks failed on {port}: {what}{hint}"
