"""erase / flash / backup / restore on one or many boards: a Result per board.

Each port runs in its own thread (parallel.run; esptool waits on the serial
link most of the time), so boards are flashed in parallel and one board's
failure does not stop the others. ui.board_results shows the results (a line
for one board, a table for several) and ends the task if any failed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mpforge.build import make
from mpforge.board import device, policy, transport
from mpforge.dist import load
from mpforge.image import firmware
from mpforge.board import parallel, portlog
from mpforge.board import ports
from mpforge.model import chips, profiles
from mpforge.model import settings as settings_mod
from mpforge import events
from mpforge.errors import UserError


def _failed(port: str, reporter: parallel.BoardReporter, error: str) -> device.Result:
    return device.Result(port, ok=False, board=reporter.board, error=error)


def run(step: str, port_list: list[str], work, *, workdir: Path, verbose: bool = False) -> list[device.Result]:
    """work(port, reporter) -> Result on every port, in parallel (parallel.run); results in port
    order, each naming its port's log."""
    results = parallel.run(step, port_list, work, workdir=workdir, verbose=verbose, failed=_failed)
    for result in results:
        result.log = portlog.path(workdir, step, result.port)
    return results


# ---- what the tasks call ----------------------------------------------------------

def flash_boards(s: settings_mod.Settings, port_args, *, profile: str | None = None,
                 micropython: str | None = None, firmware_dir: str | None = None,
                 force: bool = False, erase: bool = False, baud: int | None = None,
                 discard_files: bool = False, verbose: bool = False, comports=None) -> list[device.Result]:
    """`invoke flash`: the job's build (or --firmware: a dist folder or zip, or a build folder)
    to every port (comports: pyserial's port records, None: this machine's)."""
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
                      chip=job.profile.chip, verbose=verbose, comports=comports)


def erase_boards(s: settings_mod.Settings, port_args, baud: int | None = None,
                 verbose: bool = False) -> list[device.Result]:
    """`invoke erase`: erase the whole flash of every port's board."""
    return _on_boards("erase", s, port_args, baud, "erase the whole flash of",
                      lambda port, link, reporter: device.erase(port, link, s.state_dir, reporter, s.workdir),
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


def link_for(link: transport.Link, port: str, chip: str | None = None, comports=None) -> transport.Link:
    """The link for one port: the reset after the job chosen from the port's USB path when the
    `after` setting is auto (policy.reset_after); comports: pyserial's port records (None:
    this machine's)."""
    after_modes = (chips.get(chip) if chip else chips.default()).after_modes
    mode, why = policy.reset_after(link.after, ports.port_usb_path(port, comports), after_modes)
    return dataclasses.replace(link, after=mode, after_why=why, after_auto=link.after == "auto")


def _on_boards(step: str, s: settings_mod.Settings, port_args, baud, what: str, action,
               chip: str | None = None, verbose: bool = False, comports=None) -> list[device.Result]:
    """The chosen ports, each board in parallel through action(port, link, reporter) (chip: the
    profile's, else the registry's default; comports: pyserial's port records, None: this
    machine's)."""
    link = transport.Link.from_settings(s, baud, chip)
    port_list = ports.choose(port_args, s.port, comports)
    if s.dry:
        events.would(step, f"{what} {', '.join(port_list)}")
        return []
    return run(step, port_list, lambda port, reporter: action(port, link_for(link, port, chip, comports), reporter),
               workdir=s.workdir, verbose=verbose)
