"""Release artifacts: a build collected into one folder that can be flashed
without mpforge, served to a browser, or handed to `invoke flash`.

`collect(job)` writes ``<dist root>/<profile>-<release>/``:

    firmware.bin          bootloader + partition table + app merged, written at the
                          chip's bootloader offset (0x0 on the ESP32-S3; chips.toml)
    bootloader.bin, partition-table.bin, micropython.bin
                          the separate images (offsets in flash_args and build-info.json)
    flash_args            `cd <folder> && esptool --chip esp32s3 --port P write-flash @flash_args`
    manifest.json         ESP Web Tools manifest: the separate images at their offsets
                          (NVS is kept), Improv off (mpforge/dist/web.py)
    index.html            install from a browser, what the firmware is, the flash layout
                          (mpforge/dist/page.py); with setting dist.web_tools a local
                          folder: a copy of ESP Web Tools' *.js for an offline install
    build-info.json       profile, release and commit, IDF, resolved settings, overlay
                          files with hashes, mpforge version, build time, images
    SHA256SUMS            `sha256sum -c SHA256SUMS` format, over every file above

The folder is made in a temporary folder beside it and renamed into place, so
a dist is never half written. Its content depends only on the build (the
build time is the app image's mtime), so dist on an unchanged build changes
nothing and says "up to date". Files you add to the folder are kept when
it is rewritten (one named like a file dist writes is refused, not
overwritten); a folder that is not a dist is never replaced.

The dist is read back by mpforge/dist/load.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from mpforge import PROJECT_ROOT, __version__
from mpforge.dist import web
from mpforge.config import check as configcheck
from mpforge import events
from mpforge.build import frozen, make, overlay
from mpforge.dist import FLASH_ARGS, FORMAT, INFO, MERGED, STEP, SUMS, sha256
from mpforge.dist.load import parse_sums
from mpforge.errors import UserError
from mpforge.image import firmware, judge, layout, partitions
from mpforge.model.settings import Job

_NAMES = {"bootloader": "bootloader.bin", "partition-table": "partition-table.bin", "app": "micropython.bin"}


def default_root() -> Path:
    return PROJECT_ROOT / "dist"


def folder_for(job: Job, dest: str | os.PathLike | None = None) -> Path:
    """Where collect() puts this job's dist: <dest or <project>/dist>/<profile>-<release>."""
    root = Path(dest).expanduser().resolve() if dest else default_root()
    return root / f"{job.profile.name}-{job.release.version}"


def collect(job: Job, dest: str | os.PathLike | None = None) -> Path:
    """Collect the job's build into its dist folder; return the folder.

    Refuses (one line) when nothing is built yet (naming the build to run)
    or when an image is not a whole, valid image for the profile.
    """
    folder = folder_for(job, dest)
    fw = firmware.load(job.build_dir, hint=make.hint(job))
    _check(job, fw)
    files = _contents(job, fw)
    rel = _shown(folder)
    if job.settings.dry:
        events.note(STEP, f"would write {len(files)} files to {rel}")
        return folder
    if _up_to_date(folder, files):
        events.note(STEP, f"{job.label} in {rel}, up to date")
        return folder
    if folder.exists() and not (folder / SUMS).is_file():
        raise UserError(STEP, f"{folder} exists and is not a dist folder (no {SUMS}); move it away and run again")
    extras = _extras(folder)
    clash = sorted(set(extras) & set(files))
    if clash:
        raise UserError(STEP, f"{folder / clash[0]} is yours (not in {SUMS}) and dist now writes a file of "
                        "that name; move it away and run again")
    _publish(folder, files, _build_time(fw), extras)
    events.note(STEP, f"{job.label}: {len(files)} files in {rel} (flash {MERGED} at {job.chip.bootloader_offset:#x}, "
                      f"or `esptool --chip {fw.chip} write-flash @{FLASH_ARGS}` in that folder)")
    return folder


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _check(job: Job, fw: firmware.Firmware) -> None:
    """Every image whole and valid for the profile, the table sound (the judge's rules): else one
    line naming the file. Other images (e.g. ota_data_initial.bin) are data, copied as they are."""
    judge.refuse(judge.firmware_problems(fw, job.profile), prefix=f"{STEP}: ", suffix=f"; {make.hint(job)}")


def _build_time(fw: firmware.Firmware) -> float:
    return fw.image("app").path.stat().st_mtime


def _names(fw: firmware.Firmware) -> dict[int, str]:
    """offset -> file name in the dist folder, unique."""
    names: dict[int, str] = {}
    for image in fw.images:
        name = _NAMES.get(image.role) or image.path.name
        if name in names.values() or name in (MERGED, SUMS, INFO, web.MANIFEST, FLASH_ARGS, web.INDEX):
            name = f"{image.offset:#x}-{image.path.name}"
        names[image.offset] = name
    return names


def _contents(job: Job, fw: firmware.Firmware) -> dict[str, bytes]:
    """Every file of the dist, by name, SHA256SUMS last."""
    names = _names(fw)
    files: dict[str, bytes] = {}
    parts = []
    for image in fw.images:
        data = image.path.read_bytes()
        files[names[image.offset]] = data
        parts.append((image.offset, data))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        merged = _merge(parts, fw.chip, job.chip.bootloader_offset)
    files[MERGED] = merged
    files[FLASH_ARGS] = _flash_args(fw, names).encode()
    files[web.MANIFEST] = _json(web.manifest(job, fw, names))
    info = _build_info(job, fw, names, files)
    files[INFO] = _json(info)
    files.update(web.files(job, fw, names, files, info))
    files[SUMS] = "".join(f"{sha256(data)}  {name}\n" for name, data in sorted(files.items())).encode()
    return files


def _merge(parts: list[tuple[int, bytes]], chip: str, offset: int) -> bytes:
    """One image of the parts that starts at `offset`, the chip's bootloader offset, as
    MicroPython's own firmware.bin does (docs/micropython-esp32.md §7)."""
    from esptool.cmds import merge_bin  # esptool's own merge, header flash settings kept

    return merge_bin(parts, chip=chip, output=None, flash_mode="keep", flash_size="keep",
                     flash_freq="keep", format="raw", target_offset=offset)


def _flash_args(fw: firmware.Firmware, names: dict[int, str]) -> str:
    lines = [f"--flash-mode {fw.flash_mode} --flash-freq {fw.flash_freq} --flash-size {fw.flash_size}"]
    lines += [f"{offset:#x} {names[offset]}" for offset in sorted(names)]
    return "\n".join(lines) + "\n"




def _resolved_settings(job: Job) -> tuple[dict | None, str | None]:
    """(settings, where from): what `invoke config` resolves (needs the IDF checkout),
    else the sdkconfig.json the build wrote, else (None, None)."""
    try:
        return configcheck.check(job).as_dict(), "invoke config"
    except (UserError, OSError, subprocess.SubprocessError):
        pass  # no IDF here (e.g. a copied build): fall back to the build's own record
    for rel in ("config/sdkconfig.json", "sdkconfig.json"):
        path = job.build_dir / rel
        if path.is_file():
            try:
                return json.loads(path.read_text()), f"build/{rel}"
            except json.JSONDecodeError:
                raise UserError(STEP, f"{path} is not valid JSON; run `invoke build` again") from None
    return None, None


def _layout(job: Job, fw: firmware.Firmware) -> dict:
    """The partition layout: the profile's [partitions] (or the port's) and the table built."""
    table = partitions.parse(fw.image("partition-table").path.read_bytes())
    app = fw.image("app")
    return {"profile": (job.profile.partitions or layout.DEFAULT).as_dict(),
            "default": job.profile.partitions is None, "app_offset": app.offset,
            "partitions": [{"label": p.label, "type": p.type, "subtype": p.subtype, "offset": p.offset,
                            "size": p.size} for p in table]}


def _build_info(job: Job, fw: firmware.Firmware, names: dict[int, str], files: dict[str, bytes]) -> dict:
    rendered = overlay.render(job)
    board = job.board_dir.relative_to(job.mp_dir)
    resolved, source = _resolved_settings(job)
    built = datetime.fromtimestamp(_build_time(fw), timezone.utc).replace(microsecond=0)
    return {
        "format": FORMAT,
        "profile": job.profile.name,
        # The profile itself, so verify can check a board against a dist folder on its own.
        "profile_toml": job.profile.path.read_text(),
        "frozen_modules": frozen.module_names(job),
        # What the build linked in (its stamp): each module's folder name, names, git commit.
        "c_modules": make.built_c_modules(job) or [],
        "board": job.profile.board,
        "variant": job.profile.variant,
        "micropython": {"version": job.release.version, "commit": job.release.commit},
        "idf_version": job.idf_version,
        "chip": fw.chip,
        "flash": {"mode": fw.flash_mode, "size": fw.flash_size, "freq": fw.flash_freq},
        "images": [{"file": names[image.offset], "offset": image.offset, "role": image.role,
                    "size": len(files[names[image.offset]]), "sha256": sha256(files[names[image.offset]])}
                   for image in fw.images],
        "merged": {"file": MERGED, "offset": job.chip.bootloader_offset, "size": len(files[MERGED])},
        "layout": _layout(job, fw),
        "settings": resolved,
        "settings_source": source,
        "overlay": {
            "files": {str(board / name): sha256(text.encode()) for name, text in sorted(rendered.files.items())},
            "edits": {str(board / name): sha256(text.encode()) for name, text in sorted(rendered.edits.items())},
        },
        "mpforge_version": __version__,
        "built_at": built.isoformat().replace("+00:00", "Z"),
    }


def _json(data: dict) -> bytes:
    return (json.dumps(data, indent=2) + "\n").encode()


def _up_to_date(folder: Path, files: dict[str, bytes]) -> bool:
    """The folder holds exactly these files (compared by their sums)."""
    try:
        if (folder / SUMS).read_bytes() != files[SUMS]:
            return False
        present = {p.name for p in folder.iterdir()}
    except OSError:
        return False
    if not set(files) <= present:
        return False
    return all(sha256((folder / name).read_bytes()) == sha256(data)
               for name, data in files.items() if name != SUMS)


def _extras(folder: Path) -> list[str]:
    """Names in an existing dist folder that dist did not write (e.g. an index.html to serve it)."""
    try:
        ours = set(parse_sums(folder, (folder / SUMS).read_bytes())) | {SUMS}
        return sorted(p.name for p in folder.iterdir() if p.name not in ours)
    except FileNotFoundError:
        return []


def _publish(folder: Path, files: dict[str, bytes], mtime: float, extras: list[str] = ()) -> None:
    """Write into a temporary folder beside `folder`, then rename it into place.
    `extras` (files the user added to the old folder) are carried over."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    old = None
    try:
        for name, data in files.items():
            path = tmp / name
            path.write_bytes(data)
            os.chmod(path, 0o644)
            os.utime(path, (mtime, mtime))  # same content, same dates: reproducible archives
        for name in extras:
            source = folder / name
            if source.is_dir() and not source.is_symlink():
                shutil.copytree(source, tmp / name, symlinks=True)
            else:
                shutil.copy2(source, tmp / name, follow_symlinks=False)
        os.chmod(tmp, 0o755)
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old.", dir=folder.parent))
            os.replace(folder, old / folder.name)
        try:
            os.replace(tmp, folder)
        except OSError:
            if old is not None:
                os.replace(old / folder.name, folder)  # put the previous dist back
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
