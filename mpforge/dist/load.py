"""Reading a dist back: `load(folder_or_zip)` reads a dist back (a folder, or a zip of one) after
checking every file against SHA256SUMS; a changed or missing file is refused
with its name. It returns a `Dist`:

    dist.images      firmware.Image tuple (offset, path, role), sorted by offset
    dist.merged      Path of firmware.bin (write at build-info.json's merged.offset)
    dist.firmware    a firmware.Firmware for the separate images, as `firmware.load`
                     returns for a build folder (chip, flash mode/size/freq)
    dist.info        build-info.json as a dict

A zip is extracted (after the check) into a private temporary folder that is
removed when the Dist is garbage collected or the process ends.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import weakref
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from mpforge.dist import FLASH_ARGS, INFO, MERGED, STEP, SUMS, sha256
from mpforge.errors import UserError
from mpforge.image import firmware, layout
from mpforge.model import profiles, releases
from mpforge.model.settings import Job


@dataclass(frozen=True, eq=False)
class Dist:
    """A checked dist: every file matched SHA256SUMS when it was loaded."""

    source: Path  # the folder or zip given to load()
    folder: Path  # where the files are (a private temporary folder for a zip)
    chip: str
    flash_mode: str
    flash_size: str
    flash_freq: str
    images: tuple[firmware.Image, ...]  # the separate images, by offset
    merged: Path  # firmware.bin, to be written at the chip's bootloader offset
    info: dict = field(repr=False)  # build-info.json

    @property
    def firmware(self) -> firmware.Firmware:
        """The separate images as a Firmware, as firmware.load() gives for a build folder."""
        return firmware.Firmware(self.folder, self.chip, self.flash_mode, self.flash_size,
                                 self.flash_freq, self.images)

    @property
    def label(self) -> str:
        return f"{self.info.get('profile')} @ micropython {self.info.get('micropython', {}).get('version')}"


def is_dist(source: str | os.PathLike) -> bool:
    """A folder made by `invoke dist` (it has SHA256SUMS), or a zip file."""
    path = Path(source).expanduser()
    return (path.is_dir() and (path / SUMS).is_file()) or (path.is_file() and zipfile.is_zipfile(path))


def job_for(dist: Dist, settings) -> Job:
    """The Job a dist folder was built for, from its build-info.json alone (no profile file,
    MicroPython tree or IDF needed): what flash and verify check the board against."""
    info, where = dist.info, dist.source / "build-info.json"
    try:
        profile = profiles.from_text(info["profile_toml"], info["profile"], where)
        version, commit = info["micropython"]["version"], info["micropython"]["commit"]
    except (KeyError, TypeError):
        raise UserError(STEP, f"{where} does not say which profile and release it was built for") from None
    known = releases.table(settings.releases_file).get(version)
    release = known if known and known.commit == commit else releases.Release(
        version, commit, info.get("idf_version", ""), info.get("idf_version", ""), "")
    parts = layout.with_built_table(profile.partitions, (info.get("layout") or {}).get("partitions"))
    return Job(settings, dataclasses.replace(profile, partitions=parts), release)


def load(source: str | os.PathLike) -> Dist:
    """A dist folder or zip, checked against its SHA256SUMS (one-line error naming the file)."""
    src = Path(source).expanduser().resolve()
    if src.is_dir():
        return _from_files(src, src, _FolderReader(src))
    if src.is_file() and zipfile.is_zipfile(src):
        with zipfile.ZipFile(src) as archive:
            reader = _ZipReader(src, archive)
            _verify(src, reader)  # before anything is written to disk
            tmp = Path(tempfile.mkdtemp(prefix="mpforge-dist-"))
            try:
                for name in reader.sums:
                    (tmp / name).write_bytes(reader.read(name))
                (tmp / SUMS).write_bytes(reader.read(SUMS))
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        dist = _from_files(src, tmp, _FolderReader(tmp))
        weakref.finalize(dist, shutil.rmtree, tmp, True)
        return dist
    if not src.exists():
        raise UserError(STEP, f"{src} does not exist; make it with `invoke dist`")
    raise UserError(STEP, f"{src} is neither a dist folder nor a zip of one")


class _FolderReader:
    def __init__(self, folder: Path):
        self.folder = folder
        self.sums = parse_sums(folder, self.read(SUMS))

    def where(self, name: str) -> str:
        return str(self.folder / name)

    def read(self, name: str) -> bytes:
        try:
            return (self.folder / name).read_bytes()
        except FileNotFoundError:
            hint = "not a dist folder" if name == SUMS else "listed in SHA256SUMS"
            raise UserError(STEP, f"{self.folder / name} is missing ({hint}); "
                            "make the dist again with `invoke dist`") from None


class _ZipReader:
    """Members of a zip of a dist folder: at the top level or in one folder."""

    def __init__(self, path: Path, archive: zipfile.ZipFile):
        self.path, self.archive = path, archive
        candidates = sorted((n for n in archive.namelist() if PurePosixPath(n).name == SUMS),
                            key=lambda n: n.count("/"))
        if not candidates:
            raise UserError(STEP, f"{path} holds no {SUMS}; is it a zip of a dist folder?")
        self.prefix = candidates[0][: -len(SUMS)]
        self.sums = parse_sums(path, self.read(SUMS))

    def where(self, name: str) -> str:
        return f"{self.path}:{self.prefix}{name}"

    def read(self, name: str) -> bytes:
        try:
            return self.archive.read(self.prefix + name)
        except KeyError:
            raise UserError(STEP, f"{self.where(name)} is missing (listed in SHA256SUMS); "
                            "make the dist again with `invoke dist`") from None


def plain_name(name) -> bool:
    """A file name a dist may name: one plain name inside the folder. No path (absolute,
    ../, a/b, a backslash), no hidden file, no NUL or other control character."""
    return (isinstance(name, str) and bool(name) and not name.startswith(".")
            and not any(ch in "/\\" or ord(ch) < 32 or ord(ch) == 127 for ch in name))


def _shown_name(name) -> str:
    return repr(name)[:80]


def parse_sums(where: Path, data: bytes) -> dict[str, str]:
    sums = {}
    for number, line in enumerate(data.decode(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, name = line.partition("  ")
        name = name.removeprefix("*")
        if not sep or len(digest) != 64 or not name:
            raise UserError(STEP, f"{where}/{SUMS} line {number} is not `<sha256>  <file>`")
        if not plain_name(name):
            raise UserError(STEP, f"{where}/{SUMS} line {number} names {_shown_name(name)}, not a plain file "
                            "name in the dist folder; refusing this dist (make it again with `invoke dist`)")
        sums[name] = digest.lower()
    return sums


def _verify(src: Path, reader) -> None:
    for name, digest in reader.sums.items():
        if sha256(reader.read(name)) != digest:
            raise UserError(STEP, f"{reader.where(name)} does not match {SUMS} (changed after "
                            "`invoke dist` made it); make the dist again")
    for name in (INFO, MERGED, FLASH_ARGS):
        if name not in reader.sums:
            raise UserError(STEP, f"{reader.where(name)} is not listed in {SUMS}; not a complete dist")


def _from_files(src: Path, folder: Path, reader: _FolderReader) -> Dist:
    _verify(src, reader)
    try:
        info = json.loads(reader.read(INFO))
        flash = info["flash"]
        for entry in info["images"]:
            if not plain_name(entry["file"]):
                raise UserError(STEP, f"{reader.where(INFO)} names image {_shown_name(entry['file'])}, not a plain "
                                "file name in the dist folder; refusing this dist (make it again with `invoke dist`)")
        images = tuple(sorted(
            (firmware.Image(int(entry["offset"]), folder / entry["file"], entry["role"]) for entry in info["images"]),
            key=lambda image: image.offset))
        chip = info["chip"]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise UserError(STEP, f"{reader.where(INFO)} is not a build-info.json ({exc})") from None
    for image in images:
        if image.path.name not in reader.sums:
            raise UserError(STEP, f"{reader.where(image.path.name)} is not listed in {SUMS}; not a complete dist")
    return Dist(src, folder, chip, flash["mode"], flash["size"], flash["freq"], images, folder / MERGED, info)
