"""Erase, flash, back up and restore one board: connect (transport) -> fingerprint and
check it against the profile (policy) -> the job, keeping the flash history (store)
-> reset. esptool does the protocol and the fast paths (skip_flashed: MD5 of a region
on the chip; diff_with: only the sectors changed since the last image flashed to it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from esptool.cmds import erase_flash, read_flash, write_flash

from mpforge.board import filesystem, policy, store, transport
from mpforge.text import size_text
from mpforge.errors import UserError
from mpforge.image import judge, partitions
from mpforge.image.firmware import Firmware
from mpforge.model.profiles import Profile


@dataclass
class Result:
    """What happened on one board."""

    port: str
    ok: bool = False
    board: policy.Fingerprint | None = None
    bytes_written: int = 0  # to the flash
    bytes_sent: int = 0  # over the link for them (fewer: esptool sends them compressed)
    total_bytes: int = 0
    regions: list[str] = field(default_factory=list)  # e.g. "app 0x10000: 1 sector"
    baud: int = 0
    baud_fell_back: bool = False  # link errors made it slower than asked for
    seconds: float = 0.0
    error: str = ""
    warnings: list[str] = field(default_factory=list)  # esptool's
    reset: str = ""  # what became of the board after the job, and what to do
    was_reset: bool = False
    reset_mode: str = ""  # esptool's `after` mode used, e.g. watchdog-reset
    reset_why: str = ""  # why that one: the setting, or the port's USB path
    reset_auto: bool = False  # chosen from the port's USB path (the `after` setting is auto)
    profile: str = ""  # the profile whose firmware went onto the board
    profile_why: str = ""  # chosen from the board (profile auto): why it fits, and what else does
    files: str = ""  # what became of the files on the board ("" when not looked at)
    backup: Path | None = None  # where they were saved, when they were
    log: Path | None = None  # the port's log (board/portlog.py)


    def document(self) -> dict:
        """The --json record of this board's job."""
        board = self.board
        return {
            "port": self.port, "ok": self.ok, "error": self.error or None,
            "board": None if board is None else {
                "chip": board.chip, "mac": board.mac, "flash_size": board.flash_size,
                "flash_type": board.flash_type, "psram_size": board.psram_size, "psram_mode": board.psram_mode},
            "bytes_written": self.bytes_written, "total_bytes": self.total_bytes, "regions": self.regions,
            "baud": self.baud, "seconds": round(self.seconds, 2), "files": self.files or None,
            "backup": str(self.backup) if self.backup else None,
            "profile": {"name": self.profile or None, "chosen": bool(self.profile_why),
                        "why": self.profile_why or None},
            "reset": {"mode": self.reset_mode or None, "why": self.reset_why or None, "auto": self.reset_auto,
                      "done": self.was_reset, "text": self.reset or None},
            "warnings": list(self.warnings), "log": str(self.log) if self.log else None,
        }


@dataclass
class _FilesPlan:
    note: str  # for the report
    restore: list[tuple[int, bytes]] = field(default_factory=list)  # (flash offset, blocks)
    backup: Path | None = None


def _read(esp):
    """read_block(offset, size) -> bytes from the chip's flash."""
    return lambda offset, size: read_flash(esp, offset, size, output=None, no_progress=True)


def board_filesystem(esp, flash_size: int) -> partitions.Partition | None:
    """Where the board's filesystem is: its partition table's vfs/ffat, or the vfs a v1.26+
    firmware creates at boot; None without a table or room for one."""
    try:
        table = partitions.parse(_read(esp)(partitions.TABLE_OFFSET, partitions.MAX_SIZE))
    except ValueError:  # blank or not a table: nothing to keep
        return None
    return partitions.filesystem_region(table, flash_size, auto_vfs=True)


def _files_region(esp, fp: policy.Fingerprint, port: str, reporter: transport.Reporter) -> partitions.Partition:
    """The board's filesystem region, about to be read (one line when it has none)."""
    region = board_filesystem(esp, fp.flash_size)
    if region is None:
        raise UserError(f"{port}: the board has no filesystem (no partition table at "
                        f"{partitions.TABLE_OFFSET:#x}, or no room left for one)")
    reporter.step(f"reading the filesystem at {_region_text(region)}")
    return region


def _board_files(esp, region: partitions.Partition) -> tuple[filesystem.Snapshot | None,
                                                             filesystem.FilesystemError | None]:
    """(the files in the board's filesystem at `region`, None: a blank region), or (None, why
    they cannot be read): each caller says what that means for its task."""
    try:
        return filesystem.read(_read(esp), region), None
    except filesystem.FilesystemError as exc:
        return None, exc


def _region_text(region: partitions.Partition | None) -> str:
    if region is None:
        return "none"
    return f"{region.offset:#x}+{size_text(region.size, space=False)}"


def _image(files: filesystem.Snapshot, size: int, port: str, hint: str = "") -> list[tuple[int, bytes]]:
    """The filesystem image of `files` for a region of `size` bytes; one line naming the port when
    they do not fit."""
    try:
        return filesystem.image(files, size)
    except filesystem.FilesystemError as exc:
        raise UserError(f"{port}: {exc}", hint=hint) from None


def _plan_files(esp, fp: policy.Fingerprint, port: str, new_table: bytes, flash_size: int,
                auto_vfs: bool, workdir: Path, discard: bool, reporter: transport.Reporter) -> _FilesPlan:
    """Before anything is written: keep the board's files where they are, or back them up
    and prepare them for the new layout, or refuse (docs/filesystem.md)."""
    try:
        new = partitions.filesystem_region(partitions.parse(new_table), flash_size, auto_vfs)
    except ValueError:
        new = None
    reporter.step("reading the partition table on the board")
    old = board_filesystem(esp, flash_size)
    if old is None:
        return _FilesPlan("")
    if partitions.same_region(old, new):
        return _FilesPlan(f"kept: the filesystem at {_region_text(old)} stays where the new "
                          "firmware looks for it")
    layout = f"the filesystem moves from {_region_text(old)} to {_region_text(new)}"
    snapshot = None
    if not discard:
        reporter.step(f"{layout}: reading the board's files", keep=True)
        snapshot, problem = _board_files(esp, old)
        if problem:
            how = ("copy its files with `mpremote cp -r : ./board-files/` while the old firmware "
                   "runs" if problem.kind == "fat" else "nothing can copy its files")
            raise UserError(f"{port}: {layout} and {problem}: {how}, then flash with --discard-files "
                            "(or --erase)")
    snapshot = snapshot or filesystem.Snapshot()
    if new is None:
        if snapshot.files:
            raise UserError(f"{port}: the new firmware has no filesystem, and the board's holds "
                            f"{snapshot.describe()}; `invoke backup` saves them, then flash with "
                            "--discard-files")
        return _FilesPlan("none: the new firmware has no filesystem")
    backup = None
    if snapshot.files:
        backup = filesystem.save(snapshot, workdir, fp.mac, old, f"flash: {layout}")
    runs = _image(snapshot, new.size, port, hint=f"they are saved in {backup}" if backup else "")
    if discard:
        note = f"discarded (--discard-files): an empty filesystem at {_region_text(new)}"
    elif snapshot.files:
        note = (f"{snapshot.describe()} backed up to {backup} and put back into the new "
                f"filesystem at {_region_text(new)}")
    else:
        note = f"none to keep; an empty filesystem at {_region_text(new)}"
    return _FilesPlan(note, [(new.offset + offset, data) for offset, data in runs], backup)


def _save_before_erase(esp, fp: policy.Fingerprint, port: str, flash_size: int | None, workdir: Path,
                       discard: bool, reporter: transport.Reporter, erased: str) -> _FilesPlan:
    """An erase of the whole flash takes the files with it, so a copy of them is kept first
    (`invoke restore` writes it back). One that cannot be read is erased all the same: the
    user asked for an empty flash. The note is '' when there were no files to speak of;
    `erased` says in it what became of them."""
    old = None if discard or not flash_size else board_filesystem(esp, flash_size)
    if old is None:
        return _FilesPlan("")
    reporter.step(f"reading the board's files at {_region_text(old)} before the erase", keep=True)
    snapshot, problem = _board_files(esp, old)
    if problem:
        return _FilesPlan(f"{erased}; its filesystem could not be copied first ({problem})")
    if snapshot is None or not snapshot.files:  # None: a blank region
        return _FilesPlan("")
    backup = filesystem.save(snapshot, workdir, fp.mac, old, "flash --erase")
    return _FilesPlan(f"{snapshot.describe()} backed up to {backup}, then {erased}; "
                      f"`invoke restore --port {port}` writes them back", backup=backup)


def identify(port: str, link: transport.Link, reporter: transport.Reporter) -> policy.Fingerprint:
    """What the board is (its fingerprint), read through the ROM bootloader and reported;
    nothing is written and the board is not reset (transport.look)."""
    with transport.reporting_to(reporter):
        reporter.step("connecting")
        fp = transport.look(port, link, policy.fingerprint)
    reporter.found(fp)
    return fp


def erase(port: str, link: transport.Link, state_dir: Path, reporter: transport.Reporter,
          workdir: Path | None = None) -> Result:
    """Erase a board's whole flash and forget what was on it (its files are copied first)."""
    result = Result(port)

    def work(esp, done, fp):
        if done.erase_started:  # never twice: the first may have run to the end
            raise UserError(f"{port}: the link failed during the erase, the flash may be partly "
                            "erased; run `invoke erase` again")
        if done.files is None:
            done.files = _save_before_erase(esp, fp, port, fp.flash_size, workdir or state_dir.parent,
                                            False, reporter, erased="erased")
        result.files, result.backup = done.files.note, done.files.backup
        flashed = store.Flashed(state_dir, fp.mac)
        flashed.begin("erase")
        reporter.step("erasing")
        done.erase_started = True
        erase_flash(esp)
        flashed.erased()

    return _on_board(port, link, reporter, result, work)


def flash(port: str, fw: Firmware, profile: Profile, link: transport.Link, state_dir: Path,
          reporter: transport.Reporter, *, force: bool = False, erase_first: bool = False,
          discard_files: bool = False, auto_vfs: bool = True, workdir: Path | None = None) -> Result:
    """Write a firmware's images to a board, skipping what is already there, keeping the
    board's files (auto_vfs: the firmware creates its vfs at boot when its table has none)."""
    result = Result(port, profile=profile.name)
    images = [(image, image.path.read_bytes()) for image in fw.images]
    result.total_bytes = sum(len(data) for _, data in images)
    table = next((data for image, data in images if image.role == "partition-table"), b"")
    workdir = workdir or state_dir.parent

    def work(esp, done, fp):
        policy.check_board(fp, profile, port, force, reporter)
        judge.refuse(judge.placement_problems(fw, fp), prefix=f"{port}: ")
        if done.files is None:  # once, before anything is written
            if erase_first:
                erased = "erased with the whole flash (--erase)"
                done.files = _save_before_erase(esp, fp, port, fp.flash_size or profile.flash_size,
                                                workdir, discard_files, reporter, erased)
                done.files.note = done.files.note or erased
            elif not table:  # the board's own table stays, and with it the filesystem
                done.files = _FilesPlan("kept: the firmware brings no partition table")
            else:
                done.files = _plan_files(esp, fp, port, table, fp.flash_size or profile.flash_size,
                                         auto_vfs, workdir, discard_files, reporter)
        result.files, result.backup = done.files.note, done.files.backup
        flashed = store.Flashed(state_dir, fp.mac)
        if flashed.interrupted() and not erase_first:
            reporter.step("the last flash of this board did not finish; checking every region",
                          keep=True)
        known = {} if erase_first else flashed.known()
        flashed.begin(f"flash {fw.build_dir}")
        if erase_first and not done.erase_started:
            reporter.step("erasing")
            done.erase_started = True
            erase_flash(esp)
        with transport.counted_writes(esp, reporter) as counter:
            _write_images(esp, images, known, done.files.restore, result, reporter, counter)
        result.bytes_written, result.bytes_sent = counter.bytes, counter.sent
        flashed.done({image.offset: data for image, data in images}, str(fw.build_dir))

    return _on_board(port, link, reporter, result, work)


def _write_images(esp, images, known: dict, files: list, result: Result, reporter: transport.Reporter,
                  counter: transport.WriteCounter) -> None:
    """Each image that differs from the board's (known: the images last flashed to it, by
    offset), then the board's files (written where the new layout keeps them)."""
    result.regions = []
    for image, data in images:
        reporter.step(f"{image.role} {image.offset:#x}")
        before = counter.bytes
        options = {}
        if image.offset in known and known[image.offset] != data:
            options["diff_with"] = [known[image.offset]]  # only the changed sectors
        else:
            # MD5 on the chip: an identical region is not written again (for an image
            # equal to the last one, this is what diff_with would do, minus its diff)
            options["skip_flashed"] = True
        write_flash(esp, [(image.offset, data)], compress=True, **options)
        written = counter.bytes - before
        outcome = ("unchanged" if written == 0 else f"{written // 4096} sectors rewritten"
                   if written < len(data) else "written")
        result.regions.append(f"{image.role} {image.offset:#x}: {outcome}")
        reporter.step(f"{image.role} {image.offset:#x} {outcome}")
    if files:
        reporter.step("writing the filesystem")
        write_flash(esp, files, compress=True, skip_flashed=True)


# ---- the board's files on demand ----------------------------------------------------

def backup(port: str, link: transport.Link, workdir: Path, reporter: transport.Reporter) -> Result:
    """Copy the files on a board's filesystem into <workdir>/backups/<mac>/<time stamp>/."""
    result = Result(port)

    def work(esp, done, fp):
        region = _files_region(esp, fp, port, reporter)
        snapshot, problem = _board_files(esp, region)
        if problem:
            raise UserError(f"{port}: {problem}")
        if snapshot is None or not snapshot.files:
            result.files = f"no files to back up in the filesystem at {_region_text(region)}"
            return
        result.backup = filesystem.save(snapshot, workdir, fp.mac, region, "invoke backup")
        result.files = f"{snapshot.describe()} saved to {result.backup}"

    return _on_board(port, link, reporter, result, work)


def restore(port: str, link: transport.Link, workdir: Path, reporter: transport.Reporter, *,
            source: Path | None = None, discard_files: bool = False) -> Result:
    """Write a backup's files as the board's whole filesystem (the board's current files
    are backed up first)."""
    result = Result(port)

    def work(esp, done, fp):
        folder = source or filesystem.latest(workdir, fp.mac)
        if folder is None:
            raise UserError(f"{port}: no backup of board {fp.mac} in "
                            f"{filesystem.backups_dir(workdir, fp.mac)}; pass --backup FOLDER")
        try:
            wanted = filesystem.load(folder)
        except filesystem.FilesystemError as exc:
            raise UserError(str(exc)) from None
        if done.files is None:
            region = _files_region(esp, fp, port, reporter)
            current, problem = _board_files(esp, region)
            if problem and not discard_files:
                raise UserError(f"{port}: {problem}; restore over it with --discard-files")
            safety = None
            if current is not None and current.files:
                safety = filesystem.save(current, workdir, fp.mac, region, "before invoke restore")
            runs = _image(wanted, region.size, port)
            note = f"{wanted.describe()} from {folder} written to the filesystem at {_region_text(region)}"
            if safety:
                note += f" (the files it held are saved in {safety})"
            done.files = _FilesPlan(note, [(region.offset + o, d) for o, d in runs], safety)
        reporter.step("writing the filesystem")
        with transport.counted_writes(esp, reporter) as counter:
            write_flash(esp, done.files.restore, compress=True, skip_flashed=True)
        result.bytes_written, result.bytes_sent = counter.bytes, counter.sent
        result.files, result.backup = done.files.note, done.files.backup

    return _on_board(port, link, reporter, result, work)


def _on_board(port: str, link: transport.Link, reporter: transport.Reporter, result: Result, job) -> Result:
    """One esptool session: the board fingerprinted (and reported), then job(esp, done, fp);
    esptool's output to the reporter; the result timed."""
    started = time.monotonic()

    def work(esp, done):
        result.board = fp = policy.fingerprint(esp)
        reporter.found(fp)
        return job(esp, done, fp)

    with transport.reporting_to(reporter):
        transport.session(port, link, reporter, result, work)
    result.ok, result.seconds = True, time.monotonic() - started
    return result
