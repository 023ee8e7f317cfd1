"""erase / flash on one or many boards: one progress line per port, a summary table.

Each port runs in its own thread (parallel.run; esptool waits on the serial
link most of the time), so boards are flashed in parallel and one board's
failure does not stop the others. The exit code says whether all succeeded.
"""

from __future__ import annotations

from pathlib import Path

from mpforge.build import make
from mpforge.board import device, policy, transport
from mpforge.dist import load
from mpforge.image import firmware
from mpforge.board import parallel, portlog
from mpforge.board import ports
from mpforge.model import profiles
from mpforge.model import settings as settings_mod
from mpforge import ui
from mpforge.errors import UserError


def _failed(port: str, reporter: parallel.BoardReporter, error: str) -> device.Result:
    return device.Result(port, ok=False, board=reporter.board, error=error)


def run(step: str, port_list: list[str], work, *, workdir: Path, verbose: bool = False) -> list[device.Result]:
    """work(port, reporter) -> Result on every port, in parallel (parallel.run); results in port order."""
    return parallel.run(step, port_list, work, workdir=workdir, verbose=verbose, failed=_failed)


def summary(step: str, results: list[device.Result], workdir: Path) -> None:
    """One line for one board; a table for several. A failure raises one line naming its log."""
    for result in results:
        for text in dict.fromkeys(result.warnings):  # esptool's, once each
            ui.warn(step, f"{result.port}: {text}")
    if len(results) == 1:
        result = results[0]
        if not result.ok:
            raise UserError(f"{result.error} (log: {portlog.path(workdir, step, result.port)})")
        ui.say(step, f"{result.port}: {_outcome(step, result)}")
        return
    rows = [("PORT", "BOARD", "RESULT", "WRITTEN", "TIME")]
    for r in results:
        rows.append((r.port, f"{r.board.chip} {r.board.mac}" if r.board else "-",
                     "ok" if r.ok else "FAILED", ui.size_text(r.bytes_written) if r.ok else "-",
                     f"{r.seconds:.1f} s" if r.ok else "-"))
    ui.block(ui.columns(rows))
    for r in results:  # what the table has no room for: files, and boards left unreset
        for text in (f"files: {r.files}" if r.ok and r.files else "",
                     r.reset if r.ok and not r.was_reset else ""):
            if text:
                ui.port_note(r.port, text)
    failed = [r for r in results if not r.ok]
    for r in failed:
        ui.port_note(r.port, f"{r.error} (log: {portlog.path(workdir, step, r.port)})", problem=True)
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
                 discard_files: bool = False, verbose: bool = False) -> list[device.Result]:
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
    policy.check_firmware(fw, job.profile, force)
    auto_vfs = job.release.vfs_at_boot
    return _on_boards("flash", s, port_args, baud, f"write {fw.build_dir} ({job.label}) to",
                      lambda port, link, reporter: device.flash(
                          port, fw, job.profile, link, s.state_dir, reporter, force=force,
                          erase_first=erase, discard_files=discard_files, auto_vfs=auto_vfs,
                          workdir=s.workdir),
                      chip=job.profile.chip, verbose=verbose)


def erase_boards(s: settings_mod.Settings, port_args, baud: int | None = None,
                 verbose: bool = False) -> list[device.Result]:
    """`invoke erase`: erase the whole flash of every port's board."""
    return _on_boards("erase", s, port_args, baud, "erase the whole flash of",
                      lambda port, link, reporter: device.erase(port, link, s.state_dir, reporter),
                      verbose=verbose)


def backup_boards(s: settings_mod.Settings, port_args, baud: int | None = None,
                  verbose: bool = False) -> list[device.Result]:
    """`invoke backup`: copy the files on every port's board into the workdir."""
    return _on_boards("backup", s, port_args, baud, "copy the files on the board into "
                      f"{s.workdir / 'backups'} from",
                      lambda port, link, reporter: device.backup(port, link, s.workdir, reporter),
                      verbose=verbose)


def restore_boards(s: settings_mod.Settings, port_args, *, backup: str | None = None,
                   discard_files: bool = False, baud: int | None = None,
                   verbose: bool = False) -> list[device.Result]:
    """`invoke restore`: write a backup's files (default: the board's latest) to every port's board."""
    source = Path(backup).expanduser().resolve() if backup else None
    if source is not None and not source.is_dir():
        raise UserError(f"--backup {backup}: no such folder; backups are in {s.workdir / 'backups'}")
    return _on_boards("restore", s, port_args, baud, "write the files of a backup to",
                      lambda port, link, reporter: device.restore(
                          port, link, s.workdir, reporter, source=source, discard_files=discard_files),
                      verbose=verbose)


def _on_boards(step: str, s: settings_mod.Settings, port_args, baud, what: str, action,
               chip: str = "esp32s3", verbose: bool = False) -> list[device.Result]:
    """The chosen ports, each board in parallel through action(port, link, reporter), then the summary."""
    link = transport.Link.from_settings(s, baud, chip)
    port_list = ports.choose(port_args, s.port)
    if s.dry:
        ui.would(step, f"{what} {', '.join(port_list)}")
        return []
    results = run(step, port_list, lambda port, reporter: action(port, link, reporter),
                  workdir=s.workdir, verbose=verbose)
    summary(step, results, s.workdir)
    return results


def list_ports() -> None:
    """`invoke ports`: the ports that look like ESP32-S3 boards."""
    found = ports.candidates()
    if not found:
        ui.say("ports", "no ESP32-S3 boards found (looked for Espressif USB 303A:1001/303A:4001 "
                        "and CP210x/CH34x/FTDI USB-UART bridges)")
        return
    ui.block("\n".join(candidate.line() for candidate in found))
