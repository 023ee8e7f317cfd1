"""The board-variant overlay: a profile's variant files, rendered for the
release line's mechanism and placed in ports/esp32/boards/<BOARD>/.

overlays/<line>/overlay.toml says which files a line needs and, in the
if-block era only, which tracked file gets a hook appended. Templates use
@NAME@ placeholders (cmake keeps ${...} for itself).

Safety: a file is written only when it is missing, already ours (its
hash is recorded in the overlay state) or identical; a file with content
we do not recognise stops the overlay with its name. Nothing is rewritten
when nothing changed, so mtimes stay put. `revert` puts the tree back to
what git has, byte for byte.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from mpforge.source import gitsrc
from mpforge.model import chips, lines, profiles
from mpforge import state
from mpforge import events
from mpforge.results import StepResult
from mpforge.errors import UserError
from mpforge.image import layout
from mpforge.model.profiles import Profile
from mpforge.model.settings import Job

STEP = "overlay"
SIZES = ("2MB", "4MB", "8MB", "16MB", "32MB")


@dataclass(frozen=True)
class Rendered:
    """What the overlay puts into the board folder for one job."""

    files: dict[str, str]  # path relative to the board dir -> full content
    edits: dict[str, str]  # tracked file relative to the board dir -> text appended to it

    @property
    def digest(self) -> str:
        return state.digest(*(f"{k}\n{v}" for k, v in sorted({**self.files, **self.edits}.items())))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


_read_cache: dict[tuple, object] = {}


def _read(path, parse=None):
    """An overlay file's text (or parse(text)), read once per run however many pairs
    use it; keyed by size and mtime, so an edited file is read again. Callers must
    not change what it returns."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, parse)
    if key not in _read_cache:
        text = path.read_text()
        _read_cache[key] = parse(text) if parse else text
    return _read_cache[key]


def line_spec(line: str) -> dict:
    """overlays/<line>/overlay.toml as read (model.lines holds its facts)."""
    return lines.load(line).spec


def sdkconfig_settings(profile: Profile, partition_csv: str) -> str:
    """The Kconfig lines for a profile. Option names are stable across IDF v5.0-v5.5
    (docs/esp-idf.md §5); a blank `CONFIG_X=` clears a choice an earlier
    file made, as MicroPython's own snippets do."""
    size = profile.flash_size_label
    lines = [f"CONFIG_ESPTOOLPY_FLASHSIZE_{size}=y"]
    lines += [f"CONFIG_ESPTOOLPY_FLASHSIZE_{s}=" for s in SIZES if s != size]
    lines += ["CONFIG_PARTITION_TABLE_CUSTOM=y", f'CONFIG_PARTITION_TABLE_CUSTOM_FILENAME="{partition_csv}"']
    if profile.flash_type == "octal":
        lines += ["CONFIG_ESPTOOLPY_OCT_FLASH=y", "CONFIG_ESPTOOLPY_FLASHMODE_QIO=", "CONFIG_ESPTOOLPY_FLASHMODE_OPI=y"]
    else:
        lines += ["CONFIG_ESPTOOLPY_FLASHMODE_QIO=y"]
    lines += [f"CONFIG_ESPTOOLPY_FLASHFREQ_{profile.flash_freq.upper()}=y"]
    if profile.psram_mode == "none":
        lines += ["# CONFIG_SPIRAM is not set"]
    else:
        on, off = ("OCT", "QUAD") if profile.psram_mode == "octal" else ("QUAD", "OCT")
        lines += ["CONFIG_SPIRAM=y", f"CONFIG_SPIRAM_MODE_{off}=", f"CONFIG_SPIRAM_MODE_{on}=y",
                  f"CONFIG_SPIRAM_SPEED_{profile.psram_speed.upper()}=y"]
    chip = chips.get(profile.chip)
    cpu = f"CONFIG_{chip.kconfig_cpu_mhz}"
    lines += [f"{cpu}_{mhz}=" for mhz in chip.cpu_mhz if mhz != profile.cpu_mhz]
    lines += [f"{cpu}_{profile.cpu_mhz}=y", f"{cpu}={profile.cpu_mhz}"]
    return "\n".join(lines)


def comment(text: str) -> str:
    """Text for a comment line of a generated file: anything that is not printable
    (a newline would end the comment and start a CMake command or a Kconfig line)
    is written as its escape, so the comment stays one line."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(text))


def placed(value: str, pattern, key: str) -> str:
    """A profile value that stands in CMake code or a file name: only its plain form is
    written (CMake's legacy "..." quoting of the board name has no escapes)."""
    if not pattern.fullmatch(value):
        raise UserError(STEP, f"the profile's {key} {value!r} cannot be written into CMake safely; "
                        "fix it in the profile")
    return value


def table_file(profile: Profile) -> str:
    """The variant's own partition table, a file in the board folder ([partitions] profiles)."""
    return f"partitions-mpforge_{placed(profile.variant, profiles.VARIANT_RE, 'build.variant')}.csv"


def partition_csv(job: Job) -> str:
    """What CONFIG_PARTITION_TABLE_CUSTOM_FILENAME names for this job: the variant's
    own table (relative to ports/esp32, where ESP-IDF resolves it), or the port's
    table for the profile's flash size when the profile has no [partitions]."""
    profile, line = job.profile, job.release.line
    if profile.partitions is not None:
        return f"boards/{placed(profile.board, profiles.BOARD_RE, 'build.board')}/{table_file(profile)}"
    facts = lines.load(line)
    csv = facts.partitions.get(profile.flash_size_label)
    if csv is None:
        sizes = sorted((profiles.parse_size(k, "overlay.toml"), k) for k in facts.partitions)
        if sizes and profile.flash_size < sizes[0][0]:
            smallest = sizes[0][1]
            raise UserError(STEP, f"profile {profile.name} has {profile.flash_size_label} flash, smaller than the "
                            f"partition tables of micropython {job.release.version} need (the smallest, "
                            f"{facts.partitions[smallest]}, is for {smallest} flash)")
        raise UserError(STEP, f"release line {line} has no partition table for {profile.flash_size_label} flash "
                        f"(profile {profile.name}); add one to overlays/{line}/overlay.toml")
    return csv


def render(job: Job) -> Rendered:
    """Every file and edit the overlay makes for this profile and release line."""
    profile, facts = job.profile, job.release.facts
    spec = facts.spec
    csv = partition_csv(job)
    values = {
        "VARIANT": placed(profile.variant, profiles.VARIANT_RE, "build.variant"),
        "BOARD": placed(profile.board, profiles.BOARD_RE, "build.board"),
        "BOARD_NAME": placed(profile.board_name, profiles.BOARD_NAME_RE, "build.board_name"),
        "PROFILE": comment(profile.name), "TITLE": comment(profile.title), "LINE_NOTE": comment(facts.note),
        "SETTINGS": sdkconfig_settings(profile, csv),
    }

    def fill(text: str, where: str) -> str:
        for key, value in values.items():
            text = text.replace(f"@{key}@", value)
        leftover = re.search(r"@[A-Z_]+@", text)
        if leftover:
            raise UserError(STEP, f"{where} has an unknown placeholder {leftover.group()}")
        return text

    def template(name: str) -> str:
        path = facts.folder / name
        if not path.is_file():
            raise UserError(STEP, f"overlay file {path.relative_to(lines.OVERLAYS_DIR.parent)} is missing "
                            f"(needed for {profile.name} on {job.release.version})")
        return _read(path)

    files = {fill(target, "a file name"): fill(template(src), src) for target, src in spec.get("files", {}).items()}
    if profile.partitions is not None:  # data, not a template: no placeholders filled in it
        files[table_file(profile)] = layout.render(
            profile.partitions, profile.flash_size, spec.get("layout", {}),
            comment(f"mpforge variant {profile.variant} (profile {profile.name}): {profile.partitions.describe()}, "
                    f"{profile.flash_size_label} flash, {facts.name} line"))
    edits = {target: template(src) for target, src in spec.get("edit", {}).items()}
    if not files:
        raise UserError(STEP, f"overlays/{facts.name}/overlay.toml lists no files")
    return Rendered(files, edits)


# ---- the overlay state of one MicroPython tree ---------------------------------------

def _state_name(job: Job) -> str:
    return f"overlay-{state.digest(str(job.mp_dir.resolve()))}"


def _load_state(job: Job) -> dict:
    return state.read(job.settings.state_dir, _state_name(job)) or {"files": {}, "edits": {}}


def _rel(job: Job, name: str) -> str:
    """Path relative to the MicroPython tree, as git names it."""
    return str((job.board_dir / name).relative_to(job.mp_dir))


def _plan(job: Job, rendered: Rendered, known: dict) -> dict[str, tuple[str, str]]:
    """{file: (kind, content to write)} for what is missing or out of date; kind is
    "files" (a file of ours) or "edits" (a tracked file with our hook). Raises on
    anything we do not recognise."""
    board_dir = job.board_dir
    if (job.port_dir / "boards").is_dir() and not board_dir.is_dir():
        raise UserError(STEP, f"board {job.profile.board} (the profile's build.board) is not in "
                        f"{job.port_dir / 'boards'}; set build.board to one of the port's boards")
    if not board_dir.is_dir():
        raise UserError(STEP, f"{board_dir} does not exist; is {job.mp_dir} a MicroPython "
                        f"{job.release.version} tree? (run `invoke fetch`)")
    ours = set(known["edits"])
    foreign = [p for p in gitsrc.dirty(job.mp_dir, str(board_dir.relative_to(job.mp_dir)))
               if p not in ours]
    if foreign:
        raise UserError(STEP, f"{foreign[0]} has edits mpforge did not make; commit or stash them "
                        f"(git -C {job.mp_dir} stash) and run again")
    changes = {}
    for name, content in rendered.files.items():
        path, rel = board_dir / name, _rel(job, name)
        if not path.exists():
            changes[name] = ("files", content)
            continue
        current = path.read_text()
        if current == content:
            continue
        if _sha(current) not in known["files"].get(rel, []):
            raise UserError(STEP, f"{rel} exists and was not written by mpforge; "
                            "move it away (it is yours) and run again")
        changes[name] = ("files", content)
    for name, hook in rendered.edits.items():
        rel = _rel(job, name)
        original = gitsrc.tracked_content(job.mp_dir, rel)
        if original is None:
            raise UserError(STEP, f"{rel} is not tracked by git in {job.mp_dir}; is this release {job.release.version}?")
        current = (board_dir / name).read_text()
        if current == original + hook:
            continue
        if current != original and _sha(current) not in known["edits"].get(rel, []):
            raise UserError(STEP, f"{rel} has edits mpforge did not make; "
                            f"restore it with `git -C {job.mp_dir} checkout -- {rel}` and run again")
        changes[name] = ("edits", original + hook)
    return changes


def status(job: Job) -> tuple[bool, str]:
    rendered = render(job)
    try:
        changes = _plan(job, rendered, _load_state(job))
    except UserError as exc:
        return False, str(exc)
    in_place = f"variant {job.profile.variant} in place for {job.release.version} (line {job.release.line})"
    return not changes, f"{len(changes)} file(s) to place for variant {job.profile.variant}" if changes else in_place


def inputs(job: Job) -> list:
    """What decides the overlay's state, read without git: the rendered files, the
    tree's HEAD, every file in the board folder (size and mtime) and the overlay state.
    The pipeline's up-to-date stamp hashes it."""
    head = gitsrc.head(job.mp_dir) if gitsrc.is_checkout(job.mp_dir) else "not cloned"
    return [render(job).digest, head, state.signature(job.board_dir),
            job.settings.state_dir / f"{_state_name(job)}.json"]


def apply(job: Job) -> StepResult | None:
    """Place the variant's files; a no-op (no writes) when they are already there."""
    rendered = render(job)
    if job.settings.dry and not job.board_dir.exists():  # nothing fetched yet in a dry run
        for name in rendered.files:
            events.note(STEP, f"would write {_rel(job, name)}")
        for name in rendered.edits:
            events.note(STEP, f"would append mpforge hook to {_rel(job, name)}")
        return None
    known = _load_state(job)
    changes = _plan(job, rendered, known)
    if not changes:
        return StepResult(STEP, f"variant {job.profile.variant} in place for {job.release.version}", up_to_date=True)
    if job.settings.dry:
        for name, (kind, _content) in changes.items():
            action = "append mpforge hook to" if kind == "edits" else "write"
            events.note(STEP, f"would {action} {_rel(job, name)}")
        return None
    # Record before writing: an interrupted run still recognises its own files.
    for name, (kind, content) in changes.items():
        known[kind].setdefault(_rel(job, name), []).append(_sha(content))
    state.write(job.settings.state_dir, _state_name(job), known)
    for name, (_kind, content) in changes.items():
        state.atomic_write(job.board_dir / name, content)
    edited = [name for name, (kind, _content) in changes.items() if kind == "edits"]
    hooked = f" and hooked into {', '.join(edited)}" if edited else ""
    return StepResult(STEP, f"placed {len(changes) - len(edited)} file(s) for {job.profile.variant}{hooked} "
                            f"in {job.board_dir}")


def revert(job: Job) -> StepResult:
    """Remove every file mpforge placed in this tree and undo its edits.

    Everything is checked before anything is touched, so a file changed after
    mpforge wrote it stops the revert with the tree as it was."""
    known = _load_state(job)
    hints = {"files": ("wrote", "move it away and run again"),
             "edits": ("edited", "restore it with git yourself")}
    undo = []  # (rel, path, content to restore; None = remove the file)
    for kind in ("files", "edits"):
        for rel, hashes in known[kind].items():
            path = job.mp_dir / rel
            original = gitsrc.tracked_content(job.mp_dir, rel) if kind == "edits" else None
            if not path.exists() or (kind == "edits" and (original is None or path.read_text() == original)):
                continue
            if _sha(path.read_text()) not in hashes:
                did, hint = hints[kind]
                raise UserError(STEP, f"{rel} was changed after mpforge {did} it; {hint}")
            undo.append((rel, path, original))
    for rel, path, original in undo:
        if job.settings.dry:
            events.note(STEP, f"would {'remove' if original is None else 'restore from git'} {rel}")
        elif original is None:
            path.unlink()
        else:
            state.atomic_write(path, original)
    if not job.settings.dry:
        state.clear(job.settings.state_dir, _state_name(job))
    removed = sum(1 for _rel, _path, original in undo if original is None)
    if not undo:
        return StepResult(STEP, f"nothing of mpforge's in {job.mp_dir}", up_to_date=True)
    return StepResult(STEP, f"reverted {job.mp_dir}: removed {removed} file(s), restored {len(undo) - removed} file(s)")
