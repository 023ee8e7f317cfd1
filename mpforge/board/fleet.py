"""erase / flash on one or many boards: one progress line per port, a summary table.

Each port runs in its own thread (esptool waits on the serial link most of the
time), so boards are flashed in parallel and one board's failure does not
stop the others. The exit code says whether all succeeded.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from pathlib import Path

from mpforge.build import make
from mpforge.board import device
from mpforge.dist import load
from mpforge.image import firmware
from mpforge.board import ports
from mpforge.model import profiles
from mpforge.model import settings as settings_mod
from mpforge import lock
from mpforge import ui
from mpforge.errors import UserError


class LineReporter(device.Reporter):
    """A board's progress as one line: redrawn in place on a terminal, printed per step otherwise."""

    def __init__(self, screen: "Screen", port: str):
        super().__init__(port)
        self.screen = screen
        self.text = "waiting"

    def step(self, text: str, keep: bool = False) -> None:
        super().step(text, keep)
        self.text = text
        self.screen.show(self, text, new_step=True, keep=keep)

    def progress(self, done: int, total: int) -> None:
        if total > 0:
            self.screen.show(self, f"{self.text} {done * 100 // total:3d}%", new_step=False)


class Screen:
    """The terminal: one line per port."""

    def __init__(self, step: str, port_list: list[str], stream=None):
        self.step = step
        self.ports = port_list
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.lines = {port: "waiting" for port in port_list}
        self.lock = threading.Lock()
        self.drawn = False
        self.last_draw = 0.0

    def show(self, reporter: LineReporter, text: str, new_step: bool, keep: bool = False) -> None:
        with self.lock:
            self.lines[reporter.port] = text
            if self.tty:
                now = time.monotonic()
                if new_step or now - self.last_draw > 0.1:
                    self._redraw()
                    self.last_draw = now
            elif keep:  # a log (CI): only the lines worth keeping
                self.stream.write(f"{self.step} {reporter.port}: {text}\n")
                self.stream.flush()

    def _redraw(self) -> None:
        if self.drawn:
            self.stream.write(f"\x1b[{len(self.ports)}A")
        for port in self.ports:
            self.stream.write(f"\r\x1b[2K{self.step} {port}: {self.lines[port]}"[:160] + "\n")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        with self.lock:
            if self.tty:
                self._redraw()




def _run_one(work, port: str, reporter: LineReporter) -> device.Result:
    try:
        with lock.port(port):  # one mpforge run per board at a time
            result = work(port, reporter)
    except UserError as exc:
        result = device.Result(port, ok=False, board=reporter.board, error=str(exc))
    except Exception as exc:  # a bug: keep the other boards going, show the traceback
        traceback.print_exc()
        result = device.Result(port, ok=False, board=reporter.board,
                               error=f"unexpected error: {exc!r}")
    result.warnings = reporter.warnings
    return result


def run(step: str, port_list: list[str], work) -> list[device.Result]:
    """work(port, reporter) -> Result on every port, in parallel; results in port order."""
    screen = Screen(step, port_list)
    reporters = {port: LineReporter(screen, port) for port in port_list}
    if len(port_list) == 1:  # in this thread, so Ctrl-C stops it at once
        port = port_list[0]
        try:
            return [_run_one(work, port, reporters[port])]
        finally:
            screen.close()
    results: dict[str, device.Result] = {}
    threads = []
    for port in port_list:
        def target(port=port):
            results[port] = _run_one(work, port, reporters[port])
        thread = threading.Thread(target=target, name=f"{step} {port}", daemon=True)
        thread.start()
        threads.append(thread)
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)  # short joins keep Ctrl-C responsive
    finally:
        screen.close()
    return [results[port] for port in port_list]


def summary(step: str, results: list[device.Result]) -> None:
    """One line for one board; a table for several. A failure raises one line."""
    for result in results:
        for text in dict.fromkeys(result.warnings):  # esptool's, once each
            ui.warn(step, f"{result.port}: {text}")
    if len(results) == 1:
        result = results[0]
        if not result.ok:
            raise UserError(result.error)
        ui.say(step, f"{result.port}: {_outcome(step, result)}")
        return
    rows = [("PORT", "BOARD", "RESULT", "WRITTEN", "TIME")]
    for r in results:
        rows.append((r.port, f"{r.board.chip} {r.board.mac}" if r.board else "-",
                     "ok" if r.ok else "FAILED", ui.size_text(r.bytes_written) if r.ok else "-",
                     f"{r.seconds:.1f} s" if r.ok else "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip(), flush=True)
    for r in results:  # what the table has no room for: files, and boards left unreset
        for text in (f"files: {r.files}" if r.ok and r.files else "",
                     r.reset if r.ok and not r.was_reset else ""):
            if text:
                print(f"  {r.port}: {text}", flush=True)
    failed = [r for r in results if not r.ok]
    for r in failed:
        print(f"  {r.port}: {r.error}", file=sys.stderr, flush=True)
    if failed:
        raise UserError(step, f"{len(failed)} of {len(results)} boards failed (see above)")


def _outcome(step: str, result: device.Result) -> str:
    reset = f"; {result.reset}" if result.reset else ""
    if step == "erase":
        return f"{result.board.describe()}: erased in {result.seconds:.1f} s{reset}"
    if step in ("backup", "restore"):
        return f"{result.board.describe()}: {result.files}{reset}"
    files = f"; files: {result.files}" if result.files else ""
    return (f"{result.board.describe()}: wrote {ui.size_text(result.bytes_written)} of "
            f"{ui.size_text(result.total_bytes)} in {result.seconds:.1f} s at {result.baud} baud "
            f"({'; '.join(result.regions)}){files}{reset}")


# ---- what the tasks call ----------------------------------------------------------

def flash_boards(s: settings_mod.Settings, port_args, *, profile: str | None = None,
                 micropython: str | None = None, firmware_dir: str | None = None,
                 force: bool = False, erase: bool = False, baud: int | None = None,
                 discard_files: bool = False) -> list[device.Result]:
    """`invoke flash`: the job's build (or --firmware: a dist folder or zip, or a build folder)
    to every port."""
    built = None  # a loaded dist; kept alive while flashing (a zip unpacks to a temp folder)
    if firmware_dir and load.is_dist(firmware_dir):
        built = load.load(firmware_dir)
        job = load.job_for(built, s)
        if profile and profiles.profile_path(profile).stem != job.profile.name:
            raise UserError(f"{firmware_dir} holds firmware for profile {job.profile.name}, not {profile}; "
                            f"flash it without --profile, or run `invoke dist --profile {profile}`")
        fw = built.firmware
    else:
        job = settings_mod.job(s, profile, micropython)
        if firmware_dir:
            build_dir = Path(firmware_dir).expanduser().resolve()
            hint = "point --firmware at an ESP-IDF build folder or an `invoke dist` folder"
        else:
            build_dir, hint = job.build_dir, make.hint(job)
        fw = firmware.load(build_dir, hint=hint)
    device.check_firmware(fw, job.profile, force)
    auto_vfs = job.release.vfs_at_boot
    return _on_boards("flash", s, port_args, baud, f"write {fw.build_dir} ({job.label}) to",
                      lambda port, link, reporter: device.flash(
                          port, fw, job.profile, link, s.state_dir, reporter, force=force,
                          erase_first=erase, discard_files=discard_files, auto_vfs=auto_vfs,
                          workdir=s.workdir),
                      chip=job.profile.chip)


def erase_boards(s: settings_mod.Settings, port_args, baud: int | None = None) -> list[device.Result]:
    """`invoke erase`: erase the whole flash of every port's board."""
    return _on_boards("erase", s, port_args, baud, "erase the whole flash of",
                      lambda port, link, reporter: device.erase(port, link, s.state_dir, reporter))


def backup_boards(s: settings_mod.Settings, port_args, baud: int | None = None) -> list[device.Result]:
    """`invoke backup`: copy the files on every port's board into the workdir."""
    return _on_boards("backup", s, port_args, baud, "copy the files on the board into "
                      f"{s.workdir / 'backups'} from",
                      lambda port, link, reporter: device.backup(port, link, s.workdir, reporter))


def restore_boards(s: settings_mod.Settings, port_args, *, backup: str | None = None,
                   discard_files: bool = False, baud: int | None = None) -> list[device.Result]:
    """`invoke restore`: write a backup's files (default: the board's latest) to every port's board."""
    source = Path(backup).expanduser().resolve() if backup else None
    if source is not None and not source.is_dir():
        raise UserError(f"--backup {backup}: no such folder; backups are in {s.workdir / 'backups'}")
    return _on_boards("restore", s, port_args, baud, "write the files of a backup to",
                      lambda port, link, reporter: device.restore(
                          port, link, s.workdir, reporter, source=source, discard_files=discard_files))


def _on_boards(step: str, s: settings_mod.Settings, port_args, baud, what: str, action,
               chip: str = "esp32s3") -> list[device.Result]:
    """The chosen ports, each board in parallel through action(port, link, reporter), then the summary."""
    link = device.Link.from_settings(s, baud, chip)
    port_list = ports.choose(port_args, s.port)
    if s.dry:
        ui.would(step, f"{what} {', '.join(port_list)}")
        return []
    results = run(step, port_list, lambda port, reporter: action(port, link, reporter))
    summary(step, results)
    return results


def list_ports() -> None:
    """`invoke ports`: the ports that look like ESP32-S3 boards."""
    found = ports.candidates()
    if not found:
        ui.say("ports", "no ESP32-S3 boards found (looked for Espressif USB 303A:1001/303A:4001 "
                        "and CP210x/CH34x/FTDI USB-UART bridges)")
        return
    for candidate in found:
        print(candidate.line(), flush=True)
