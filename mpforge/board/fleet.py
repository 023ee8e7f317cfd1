"""erase / flash / backup / restore on one or many boards: a Result per board.

Each port runs in its own thread (parallel.run; esptool waits on the serial
link most of the time), so boards are flashed in parallel and one board's
failure does not stop the others. ui.board_results shows the results (a line
for one board, a table for several) and ends the task if any failed.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

from mpforge.build import make
from mpforge.board import device, policy, transport
from mpforge.dist import load
from mpforge.image import firmware
from mpforge.board import parallel, portlog
from mpforge.board import ports
from mpforge.model import chips, fit, profiles
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

def _given_firmware(firmware_dir: str):
    """--firmware as a build folder, loaded (and its bad files refused) before any board is read."""
    return firmware.load(Path(firmware_dir).expanduser().resolve(),
                         hint="point --firmware at an ESP-IDF build folder or an `invoke dist` folder")


def _firmware(job: settings_mod.Job, given, force: bool):
    """The job's build (or `given`: --firmware's build folder), checked against the job's profile."""
    fw = given or firmware.load(job.build_dir, hint=make.hint(job))
    policy.check_firmware(fw, job.profile, force)
    return fw


def flash_boards(s: settings_mod.Settings, port_args, *, profile: str | None = None,
                 micropython: str | None = None, firmware_dir: str | None = None,
                 force: bool = False, erase: bool = False, baud: int | None = None,
                 discard_files: bool = False, verbose: bool = False, comports=None) -> list[device.Result]:
    """`invoke flash`: the job's build (or --firmware: a dist folder or zip, or a build folder)
    to every port; with the profile auto, each board's own (flash_chosen). comports:
    pyserial's port records, None: this machine's."""
    built = None  # a loaded dist; kept alive while flashing (a zip unpacks to a temp folder)
    auto = s.auto_profile(profile)
    if firmware_dir and load.is_dist(firmware_dir):  # the dist's profile, checked against the board
        built = load.load(firmware_dir)
        job = load.job_for(built, s)
        if profile and not auto and profiles.profile_path(profile).stem != job.profile.name:
            raise UserError(f"{firmware_dir} holds firmware for profile {job.profile.name}, not {profile}; "
                            f"flash it without --profile, or run `invoke dist --profile {profile}`")
        fw = built.firmware
        policy.check_firmware(fw, job.profile, force)
    elif auto:
        return flash_chosen(s, port_args, micropython=micropython, firmware_dir=firmware_dir, force=force,
                            erase=erase, baud=baud, discard_files=discard_files, verbose=verbose,
                            comports=comports)
    else:
        job = settings_mod.job(s, profile, micropython)
        fw = _firmware(job, _given_firmware(firmware_dir) if firmware_dir else None, force)
    auto_vfs = job.release.vfs_at_boot
    return _on_boards("flash", s, port_args, baud, f"write {fw.build_dir} ({job.label}) to",
                      lambda port, link, reporter: device.flash(
                          port, fw, job.profile, link, s.state_dir, reporter, force=force,
                          erase_first=erase, discard_files=discard_files, auto_vfs=auto_vfs,
                          workdir=s.workdir),
                      chip=job.profile.chip, verbose=verbose, comports=comports)


# ---- the profile chosen from the board (docs/auto-profile.md) --------------------------

def choose_profile(fp, port: str, candidates=None) -> fit.Choice:
    """The one profile that fits the board (fit.choose: else a one-line refusal)."""
    return fit.choose(fp, profiles.loadable()[0] if candidates is None else candidates, port)


def choice_text(choice: fit.Choice) -> str:
    """One line: 'esp32s3-n16r8: ESP32-S3, 16MB quad flash, 8MB octal PSRAM; also fits: ...'."""
    also = f"; also fits: {', '.join(f.profile.name for f in choice.alternatives)}" if choice.alternatives else ""
    return f"{choice.fit.profile.name}: {choice.why()}{also}"


def fingerprints(s: settings_mod.Settings, port_args, *, step: str = "detect", baud: int | None = None,
                 verbose: bool = False, comports=None) -> list[device.Result]:
    """Each port's board read through its ROM bootloader, in parallel (device.identify): a
    Result per port whose .board is the Fingerprint (or whose .error says why not)."""
    link = transport.Link.from_settings(s, baud)
    port_list = ports.choose(port_args, s.port, comports)

    def one(port, reporter):
        result = device.Result(port, board=device.identify(port, link, reporter))
        result.ok = True
        return result

    return run(step, port_list, one, workdir=s.workdir, verbose=verbose)


def board_profiles(s: settings_mod.Settings, port_args, *, step: str, micropython=None, verbose: bool = False,
                   comports=None) -> list[device.Result]:
    """Each port's board and the profile chosen for it (build-all --port): a Result per port
    with .profile and .profile_why, or .error (the one-line refusal of fit.choose). The
    releases asked for (micropython) are checked first, before any board is read."""
    for version in micropython or [None]:
        settings_mod.release(s, version)
    if s.dry:
        events.would(step, f"read each board on {', '.join(ports.choose(port_args, s.port, comports))} "
                           "and build the profile that fits it")
        return []
    results = fingerprints(s, port_args, step=step, verbose=verbose, comports=comports)
    candidates = profiles.loadable()[0]
    for result in results:
        if result.ok:
            try:
                choice = choose_profile(result.board, result.port, candidates)
            except UserError as exc:
                result.ok, result.error = False, str(exc)
                continue
            result.profile, result.profile_why = choice.fit.profile.name, choice_text(choice)
    return results


def flash_chosen(s: settings_mod.Settings, port_args, *, micropython: str | None = None,
                 firmware_dir: str | None = None, force: bool = False, erase: bool = False,
                 baud: int | None = None, discard_files: bool = False, verbose: bool = False,
                 comports=None) -> list[device.Result]:
    """`invoke flash` with the profile auto: each board read first (device.identify), the one
    profile that fits it chosen (fit.choose), then that profile's build written to it. A
    board no profile fits, or one fits but is not built, fails alone; nothing is written to it."""
    link = transport.Link.from_settings(s, baud)
    port_list = ports.choose(port_args, s.port, comports)
    release = settings_mod.release(s, micropython)
    if s.dry:
        events.would("flash", f"read each board on {', '.join(port_list)}, then write the build of the "
                              f"profile that fits it (micropython {release.version})")
        return []
    given = _given_firmware(firmware_dir) if firmware_dir else None
    candidates = profiles.loadable()[0]
    guard = threading.Lock()
    loaded: dict[str, tuple] = {}  # profile name -> (job, firmware): each build loaded once

    def for_profile(profile: profiles.Profile):
        with guard:
            if profile.name not in loaded:
                job = settings_mod.Job(s, profile, release)
                loaded[profile.name] = (job, _firmware(job, given, force))
            return loaded[profile.name]

    def work(port, reporter):
        choice = choose_profile(device.identify(port, link, reporter), port, candidates)
        why = choice_text(choice)
        reporter.step(f"profile {why}", keep=True)
        job, fw = for_profile(choice.fit.profile)
        result = device.flash(port, fw, job.profile, link_for(link, port, job.profile.chip, comports),
                              s.state_dir, reporter, force=force, erase_first=erase,
                              discard_files=discard_files, auto_vfs=job.release.vfs_at_boot,
                              workdir=s.workdir)
        result.profile_why = why
        return result

    return run("flash", port_list, work, workdir=s.workdir, verbose=verbose)


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


def detect_boards(s: settings_mod.Settings, port_args, *, baud: int | None = None, verbose: bool = False,
                  live_to_stderr: bool = False, repl: bool = False) -> list:
    """`invoke detect`: what every port's board is and which profiles fit it (board/detect.py),
    the boards in parallel."""
    from mpforge.board import detect

    link = transport.Link.from_settings(s, baud)
    port_list = ports.choose(port_args, s.port)
    if s.dry:
        events.would("detect", f"read the chip, flash and PSRAM of {', '.join(port_list)}")
        return []
    candidates, broken = profiles.loadable()
    results = parallel.run("detect", port_list,
                           lambda port, reporter: detect.detect(port, link_for(link, port), reporter, candidates,
                                                                broken, s.verify_timeout if repl else None),
                           workdir=s.workdir, verbose=verbose, failed=detect.failed, to_stderr=live_to_stderr)
    for result in results:
        result.log = portlog.path(s.workdir, "detect", result.port)
    return results
