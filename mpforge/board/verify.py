"""verify: prove on the board that it runs the firmware built for the profile.

Over the board's REPL (mpremote's SerialTransport; the port is opened with
pyserial's serial_for_url, so a device path, socket://host:port and
rfc2217://host:port all work) verify interrupts whatever runs, enters the
raw REPL without a soft reset, runs scripts/board_probe.py and checks what it
prints against the profile and the release:

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

The checks are pure functions of (probe result, Profile, release version).
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from mpforge import PROJECT_ROOT
from mpforge import ui
from mpforge.errors import UserError
from mpforge.model.profiles import Profile
from mpforge.model import chips, releases
from mpforge.model.releases import version_tuple

STEP = "verify"
PROBE = PROJECT_ROOT / "scripts" / "board_probe.py"
#: MicroPython's REPL runs at 115200 baud on a UART (USB-CDC ignores it).
REPL_BAUD = 115200
#: How long to wait for the raw REPL, in seconds (setting mpforge.verify.timeout).
DEFAULT_TIMEOUT = 5.0

RAW_REPL_BANNER = b"raw REPL; CTRL-B to exit\r\n"
_STDOUT_SWAP = threading.Lock()


# ---- checks: pure functions ---------------------------------------------------------


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




def expected_machine(profile: Profile) -> str:
    return f"{profile.board_name} with {chips.get(profile.chip).mcu_name}"


def expected_build(profile: Profile) -> str:
    return f"{profile.board}-{profile.variant}"


def _missing(probe: dict, key: str) -> str:
    reason = (probe.get("errors") or {}).get(key)
    return f"unavailable ({reason})" if reason else "unavailable"


def check_board_name(probe: dict, profile: Profile) -> Check:
    want = expected_machine(profile)
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
    want = ui.size_text(profile.flash_size)
    return _probe_check(probe, "flash_size", "flash size", want, "no flash size (esp.flash_size)", lambda got: (
        got == profile.flash_size, ui.size_text(got),
        f"flash is {ui.size_text(got)}, not {want} (a smaller chip, or firmware built for less flash)"))


def check_psram(probe: dict, profile: Profile) -> Check:
    got = probe.get("psram_heap")
    source = probe.get("psram_source") or "?"
    found = f"{ui.size_text(got)} ({source})" if isinstance(got, int) else _missing(probe, "psram_heap")
    if profile.psram_mode == "none":
        return Check("PSRAM heap", "none in profile", found, None)
    want = f">= {ui.size_text(profile.min_psram_heap)}"
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
    if ui.size_text(got).replace(".0 ", " ") == ui.size_text(least).replace(".0 ", " "):
        return f"{got} bytes, below {least} bytes"
    return f"{ui.size_text(got)}, below {ui.size_text(least)}"


def check_fs(probe: dict, profile: Profile) -> Check:
    want = f">= {ui.size_text(profile.min_fs_size)}"
    if probe.get("fs_corrupted"):
        return Check("filesystem", want, "corrupted", False,
                     "the firmware found no filesystem it can mount ('The filesystem appears to "
                     "be corrupted'): its files were made for another layout; `invoke backup` "
                     "then `invoke restore` puts them into this one")
    return _probe_check(probe, "fs_size", "filesystem", want, "no filesystem at /", lambda got: (
        got >= profile.min_fs_size, ui.size_text(got), f"filesystem is {_below(got, profile.min_fs_size)}"))


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


def _part_text(label: str, offset: int, size: int) -> str:
    return f"{label} {ui.size_text(size, space=False)} @{offset:#x}"


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
               build_id_since: str | None = None) -> list[Check]:
    """Every check, in report order (the partition rows when the probe reported them;
    build_id_since: from the release's line, else looked up)."""
    return [
        check_board_name(probe, profile),
        check_release(probe, release),
        check_build(probe, profile, release, build_id_since),
        check_flash(probe, profile),
        check_psram(probe, profile),
        check_fs(probe, profile),
        check_cpu(probe, profile),
    ] + (check_partitions(probe, profile, release) if "partitions" in probe else []) + [
        check_import(probe, name) for name in frozen_modules]


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
    """One line naming every failure."""
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
    return f"{STEP}: {len(bad)} of {total} checks failed on {port}: {what}{hint}"


# ---- the board's REPL ---------------------------------------------------------------


def _port_error(port: str, exc: BaseException) -> UserError:
    """The port's one-line error (shared with flash), said by verify."""
    from mpforge.board import ports

    return UserError(STEP, f"{ports.port_error(port, exc)}")


def open_port(port: str, *, baud: int = REPL_BAUD, timeout: float = 2.0):
    """An mpremote SerialTransport on the port, opened exclusively; one-line errors."""
    import serial
    from mpremote.transport import TransportError
    from mpremote.transport_serial import SerialTransport

    if not port:
        raise UserError(STEP, "no port; pass --port /dev/ttyACM0 (or socket://host:port), "
                        "or set mpforge.port")
    try:
        return SerialTransport(port, baudrate=baud, exclusive=True, timeout=timeout)
    except (TransportError, OSError, ValueError) as first:
        # SerialTransport hides why the port would not open: open it once more
        # ourselves to find out (missing, busy, no permission, bad URL ...).
        try:
            probe = serial.serial_for_url(port, baudrate=baud, exclusive=True, timeout=timeout)
        except (OSError, ValueError) as exc:
            raise _port_error(port, exc) from None
        probe.close()
        raise _port_error(port, first) from None


# What a board that is not (yet) running MicroPython prints instead of a REPL.
_INVALID_HEADER = b"invalid header"
_ROM_BANNER = b"ESP-ROM:"
_RESET = b"rst:0x"
# What MicroPython prints, in a loop, when the filesystem where it looks is not one it can
# mount: e.g. a LittleFS made for another layout (docs/filesystem.md).
FS_CORRUPTED = b"The filesystem appears to be corrupted"


def fs_corrupted_hint(port: str) -> str:
    return (f"the board's files were made for another filesystem layout: `invoke backup --port "
            f"{port}` copies them off the board, `invoke restore --port {port}` writes them back "
            "in the layout of the firmware it runs")


def _boot_trouble(port: str, seen: bytes) -> UserError | None:
    """A one-line error if the output is a ROM boot loop (or download mode)."""
    from mpforge.board import ports

    if seen.count(_INVALID_HEADER) >= 2:
        return UserError(
            STEP, f"the board on {port} is in a boot loop: the ROM prints 'invalid header: "
            f"0xffffffff' over and over (no firmware, e.g. a blank chip); flash it with "
            f"`invoke flash --port {port}`")
    if seen.count(_ROM_BANNER) + seen.count(_RESET) >= 4:
        return UserError(
            STEP, f"the board on {port} is in a boot loop: it keeps resetting (the ROM boot "
            f"messages repeat); reflash it with `invoke flash --port {port}`")
    if ports.in_download_mode(seen):
        return UserError(
            STEP, f"the board on {port} is in download mode (the ROM waits for a download); "
            "press its RESET button (or replug it) and retry")
    if seen.count(FS_CORRUPTED) >= 2:
        return UserError(
            STEP, f"the firmware on {port} says 'The filesystem appears to be corrupted' over "
            f"and over: {fs_corrupted_hint(port)}")
    return None


def _printable_tail(data: bytes, n: int = 60) -> str:
    text = data.decode("ascii", "replace")
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(text.split())[-n:]


def enter_raw_repl(transport, port: str, timeout: float) -> bytes:
    """Interrupt the running program and enter the raw REPL, without a soft reset.

    Watches the output while waiting, so that a ROM boot loop or a port with
    no REPL behind it ends in a one-line error, not a hang. Returns what the
    board printed before the raw REPL.
    """
    from mpremote.transport import TransportError

    ser = transport.serial
    saved = ser.timeout
    ser.timeout = 0.05
    try:
        ser.reset_input_buffer()
    except (OSError, AttributeError):
        pass
    seen = b""
    deadline = time.monotonic() + timeout
    last_poke = float("-inf")
    pokes = 0
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            # Ctrl-C Ctrl-C (stop any program), Ctrl-A (raw REPL); again every
            # second, in case the board was still booting and lost them.
            if now - last_poke >= 1.0:
                ser.write(b"\r\x03\x03\r\x01")
                last_poke = now
                pokes += 1
            # A byte at a time: stop right after the banner, so that the raw
            # REPL's prompt is still unread for mpremote's exec, which waits for it.
            chunk = ser.read(1)
            if chunk:
                seen = (seen + chunk)[-8192:]
                if seen.endswith(RAW_REPL_BANNER):
                    break
                trouble = _boot_trouble(port, seen) if chunk == b"\n" else None
                if trouble:
                    raise trouble
        if RAW_REPL_BANNER not in seen:
            trouble = _boot_trouble(port, seen) if seen else None
            if trouble:
                raise trouble
            if not seen.strip():
                raise UserError(
                    STEP, f"no answer from {port} within {timeout:g} s: no MicroPython REPL "
                    f"there (is this the board's port, and is MicroPython flashed? After a flash "
                    f"that could not reset the board, press its RESET button)")
            raise UserError(
                STEP, f"{port} answered, but not as a MicroPython REPL (last output: "
                f"'{_printable_tail(seen)}'); is MicroPython flashed on that board?")
        if pokes == 1:
            # One Ctrl-A, one banner, nothing else on the way: in the raw REPL
            # now, so do not enter it again through mpremote (a round trip).
            transport.in_raw_repl = True
            return seen
        # In the raw REPL after several Ctrl-As: let their echoes arrive, then
        # synchronise once more with mpremote's own (no soft reset).
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < 0.1 and time.monotonic() < deadline + 1:
            if ser.read(4096 if ser.in_waiting > 4096 else max(1, ser.in_waiting)):
                quiet_since = time.monotonic()
    finally:
        ser.timeout = saved
    try:
        # It prints raw bytes on failure. redirect_stdout swaps sys.stdout for the whole
        # process: one board at a time, or parallel boards restore each other's swap.
        with _STDOUT_SWAP, contextlib.redirect_stdout(io.StringIO()):
            transport.enter_raw_repl(soft_reset=False, timeout_overall=timeout)
    except TransportError:
        raise UserError(STEP, f"{port} stopped answering while entering the raw REPL; "
                        "retry, or reset the board") from None
    return seen


def parse_probe_output(out: bytes) -> dict:
    """The JSON line the probe printed (the last line that is a JSON object)."""
    text = out.decode("utf-8", "replace")
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                break
            if isinstance(value, dict):
                return value
    raise UserError(STEP, f"the board probe printed no report (output: '{_printable_tail(out)}')")


def compact(source: str) -> str:
    """The probe as sent: no comment or blank lines, one space per indent level.

    A board without raw-paste mode takes code in 256-byte pieces 10 ms apart
    (mpremote's raw REPL fallback), so half the bytes is half that wait.
    Code that does not survive this (indents not in fours) is sent as it is."""
    lines = []
    for line in source.splitlines():
        text = line.lstrip(" ")
        if text and not text.startswith("#"):
            lines.append(" " * ((len(line) - len(text)) // 4) + text)
    small = "\n".join(lines) + "\n"
    try:
        compile(small, "board_probe", "exec")
    except SyntaxError:
        return source
    return small


def probe_board(port: str, *, timeout: float = DEFAULT_TIMEOUT, probe: Path = PROBE, imports=(),
                reporter=None) -> dict:
    """Run the probe on the board at port and return what it reported.

    reporter (parallel.BoardReporter): gets each step, and the REPL exchange for the port's log.
    """
    import serial
    from mpremote.transport import TransportError, TransportExecError

    from mpforge.board import portlog

    step = reporter.step if reporter else (lambda text: None)
    source = f"MPFORGE_IMPORTS = {list(imports)!r}\n" + compact(probe.read_text())
    step("opening the port")
    transport = open_port(port)
    if reporter:
        transport.serial = portlog.Wiretap(transport.serial, reporter.detail)
    try:
        step("entering the raw REPL")
        seen = enter_raw_repl(transport, port, timeout)
        step("running the probe")
        try:
            out = transport.exec(source)
        except TransportExecError as exc:
            lines = [l for l in str(exc.error_output).strip().splitlines() if l.strip()]
            raise UserError(STEP, f"the board probe failed on {port}: "
                            f"{lines[-1] if lines else 'no error text'}") from None
        except TransportError as exc:
            raise UserError(STEP, f"lost the REPL on {port} while running the probe: {exc}") from None
        result = parse_probe_output(out)
        if FS_CORRUPTED in seen:  # Ctrl-C broke the firmware's loop: no filesystem mounted
            result["fs_corrupted"] = True
        try:
            transport.exit_raw_repl()
        except (OSError, serial.SerialException):
            pass
        return result
    except serial.SerialException as exc:
        raise UserError(STEP, f"the connection to {port} dropped: "
                        f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    finally:
        with contextlib.suppress(Exception):
            transport.close()


def target(settings, firmware=None, profile: str | None = None, micropython: str | None = None):
    """(job, frozen modules) to check a board against: a dist folder's build-info.json
    when given, else the profile and release asked for (settings.job, as every task)."""
    from mpforge.build import frozen
    from mpforge.model import settings as settings_mod

    if firmware:
        from mpforge.dist import load  # esptool and the dist code: only for a dist folder

        built = load.load(firmware)
        return load.job_for(built, settings), list(built.info.get("frozen_modules") or [])
    job = settings_mod.job(settings, profile, micropython)
    return job, (frozen.module_names(job) if job.frozen and job.frozen.exists() else [])


@dataclass
class Board:
    """One port's verify: its checks (empty when the probe never ran) or the error that stopped it."""

    port: str
    checks: list[Check]
    probe: dict | None = None
    error: str = ""
    log: Path | None = None
    warnings: list[str] | None = None

    @property
    def ok(self) -> bool:
        return not self.error and not failed(self.checks)


def _verify_one(port: str, reporter, job, timeout: float, frozen_modules) -> Board:
    probe = probe_board(port, timeout=timeout, imports=frozen_modules, reporter=reporter)
    since = job.release.facts.build_id_since if job.release.line else None  # a dist's unknown release: look it up
    checks = run_checks(probe, job.profile, job.release.version, frozen_modules, since)
    bad = failed(checks)
    total = sum(1 for c in checks if c.passed is not None)
    if bad:
        reporter.display.status(port, f"FAILED: {len(bad)} of {total} checks ({', '.join(c.name for c in bad)})",
                                style="red")
    else:
        reporter.display.status(port, f"ok: {total} of {total} checks passed", style="green")
    reporter.log.write(table(checks))
    return Board(port, checks, probe)


def run(job, port_list=None, *, as_json: bool = False, frozen_modules=(), verbose: bool = False) -> list[Board]:
    """The verify task: probe every board in parallel, print the report(s), fail if any board fails.

    One port: its table and a summary line. Several: one live line each, then a
    table of the boards. --json: one document on stdout (the live lines go to stderr).
    """
    from rich.console import Console

    from mpforge.board import parallel, portlog, ports

    settings = job.settings
    # --port flags, else the setting, else the one ESP32-S3 on USB (or a one-line error)
    port_list = ports.choose(port_list, settings.port)
    if settings.dry:
        ui.would(STEP, f"{PROBE.relative_to(PROJECT_ROOT)} in the raw REPL on {', '.join(port_list)}, "
                       f"checked against {job.label}")
        return []
    timeout = settings.verify_timeout
    boards = parallel.run(
        STEP, port_list, lambda port, reporter: _verify_one(port, reporter, job, timeout, frozen_modules),
        workdir=settings.workdir, verbose=verbose,
        failed=lambda port, reporter, error: Board(port, [], error=error),
        console=Console(stderr=True, highlight=False) if as_json else None)
    for board in boards:
        board.log = portlog.path(settings.workdir, STEP, board.port)
    if any(b.ok for b in boards):
        _remember(settings.state_dir, job)
    if len(boards) == 1:
        _one_board(job, boards[0], as_json)
    else:
        _many_boards(job, boards, as_json)
    return boards


def _one_board(job, board: Board, as_json: bool) -> None:
    if board.error:
        raise UserError(f"{board.error} (log: {board.log})")
    checks = board.checks
    if as_json:
        ui.document({**report(checks, board.probe, port=board.port, profile=job.profile,
                              release=job.release.version), "log": str(board.log)})
    else:
        ui.say(STEP, f"{job.label} on {board.port}")
        ui.block(table(checks))
    if not board.ok:
        raise UserError(summary(checks, port=board.port, profile=job.profile))
    if not as_json:
        ui.say(STEP, f"all {sum(1 for c in checks if c.passed)} checks passed: the board runs "
                     f"the firmware built for {job.profile.name}")


def _many_boards(job, boards: list[Board], as_json: bool) -> None:
    bad = [b for b in boards if not b.ok]
    if as_json:
        ui.document({
            "ok": not bad,
            "profile": job.profile.name,
            "micropython": job.release.version,
            "boards": [{**report(b.checks, b.probe, port=b.port, profile=job.profile,
                                 release=job.release.version), "log": str(b.log)}
                       if not b.error else {"ok": False, "port": b.port, "error": b.error, "log": str(b.log)}
                       for b in boards],
        })
    else:
        ui.say(STEP, f"{len(boards)} boards against {job.label}")
        rows = [("PORT", "RESULT", "CHECKS", "PROBLEM")]
        for b in boards:
            counted = [c for c in b.checks if c.passed is not None]
            rows.append((b.port, "ok" if b.ok else "FAILED",
                         f"{sum(1 for c in counted if c.passed)}/{len(counted)}" if counted else "-",
                         "; ".join(f"{c.name}: {c.problem}" for c in failed(b.checks)) or b.error))
        ui.block(ui.columns(rows))
    for b in bad:
        what = b.error or summary(b.checks, port=b.port, profile=job.profile)
        ui.port_note(b.port, f"{what} (log: {b.log})", problem=True)
    if bad:
        raise UserError(STEP, f"{len(bad)} of {len(boards)} boards failed (see above)")
    if not as_json:
        ui.say(STEP, f"all {len(boards)} boards run the firmware built for {job.profile.name}")


def _remember(state_dir: Path, job) -> None:
    """Note that the profile was proven on a board with this release (`invoke boards` shows it)."""
    from mpforge import state

    seen = state.read(state_dir, "verified") or {}
    releases = seen.setdefault(job.profile.name, {})
    releases[job.release.version] = time.strftime("%Y-%m-%d")
    state.write(state_dir, "verified", seen)


__all__ = ["Check", "run_checks", "table", "report", "summary", "probe_board", "run",
           "expected_machine", "expected_build", "parse_probe_output", "open_port"]
