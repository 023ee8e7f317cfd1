"""The firmware build: the port's make in the IDF environment, then checks of
the images it wrote.

A build is skipped when its stamp (MicroPython and IDF commits, overlay,
profile, make arguments) matches and the images it recorded are still there.
The build's sdkconfig is removed whenever the overlay or the IDF changed:
ESP-IDF applies defaults only to options an existing sdkconfig lacks, so a
stale one would silently keep the old settings (docs/esp-idf.md §5).
"""

from __future__ import annotations

import re
from pathlib import Path

from mpforge.image import firmware
from mpforge.image import judge
from mpforge.build import cmodules, frozen
from mpforge.source import gitsrc
from mpforge.source import toolchain
from mpforge.build import overlay
from mpforge.image import layout, partitions
from mpforge import shell
from mpforge import state
from mpforge import events
from mpforge.results import StepResult
from mpforge.errors import UserError
from mpforge.model.settings import Job

STEP = "build"
_NINJA_PROGRESS = re.compile(r"^\[(\d+)/(\d+)\]\s*(.*)")


def make_command(job: Job) -> list[str]:
    cmd = ["make", "-C", str(job.port_dir), f"-j{job.settings.jobs}",
           f"BOARD={job.profile.board}", f"BOARD_VARIANT={job.profile.variant}"]
    manifest = frozen.manifest_path(job)
    if manifest:
        cmd.append(f"FROZEN_MANIFEST={manifest}")
    user_modules = cmodules.file_path(job)
    if user_modules:
        cmd.append(f"USER_C_MODULES={user_modules}")
    return cmd


def _made_from(job: Job) -> dict:
    """What the build is made from besides the two source trees: the build's stamp
    records it and the pipeline's cheap up-to-date check hashes it."""
    return {"overlay": overlay.render(job).digest, "profile": job.profile.digest,
            "make": shell.quote(make_command(job)[3:]), "frozen": frozen.digest(job),
            **({"c_modules": cmodules.digest(job)} if job.settings.c_modules else {})}


def _inputs(job: Job) -> dict:
    return {"micropython": job.release.commit, "idf": toolchain.identity(job), **_made_from(job)}


def _stamp_name(job: Job) -> str:
    return f"build-{job.key}"


def _outputs(build_dir: Path) -> dict:
    fw = firmware.load(build_dir)
    return {str(img.path.relative_to(build_dir)): state.digest(img.path) for img in fw.images}


def inputs(job: Job) -> list:
    """What status reads, cheaply: its inputs (no git run) and the images it recorded
    (by size and mtime). The pipeline's up-to-date stamp hashes it."""
    stamp_file = job.settings.state_dir / f"{_stamp_name(job)}.json"
    outputs = (state.read(job.settings.state_dir, _stamp_name(job)) or {}).get("outputs") or {}
    heads = [gitsrc.head(d) if gitsrc.is_checkout(d) else "not cloned" for d in (job.mp_dir, job.idf_dir)]
    return [*heads, *_made_from(job).values(), stamp_file,
            state.signature(job.build_dir / "flasher_args.json", *(job.build_dir / k for k in sorted(outputs)))]


def status(job: Job) -> tuple[bool, str]:
    stamp = state.read(job.settings.state_dir, _stamp_name(job))
    if not stamp:
        return False, f"{job.label} not built"
    if not toolchain.is_ready(job) or not gitsrc.is_checkout(job.mp_dir):
        return False, "sources missing"
    inputs = _inputs(job)
    changed = [k for k, v in inputs.items() if stamp.get("inputs", {}).get(k) != v]
    if changed:
        return False, f"{', '.join(changed)} changed since the last build"
    try:
        if _outputs(job.build_dir) != stamp.get("outputs"):
            return False, "build outputs changed or missing"
    except UserError:
        return False, "build outputs missing"
    return True, f"{job.label} built in {job.build_dir.name}"


def ensure(job: Job) -> StepResult | None:
    """Build (the pipeline asks status first, except in a dry run)."""
    if job.settings.dry:
        events.note(STEP, f"would build {job.label}")
        shell.run(STEP, toolchain.command(job, make_command(job), job.port_dir), dry=True)
        return None
    _ok, message = status(job)  # why it builds, for the progress line
    env = toolchain.build_env(job, STEP)
    frozen.write_manifest(job)
    cmodules.write_file(job)
    inputs = _inputs(job)
    _invalidate_stale_config(job, inputs)
    # Forget the old stamp first: an interrupted build must never look complete.
    state.clear(job.settings.state_dir, _stamp_name(job))
    events.note(STEP, f"building {job.label} ({message.removeprefix(job.label + ' ')}); log: {_log(job)}")
    _run_make(job, env)
    fw = check_images(job)
    state.write(job.settings.state_dir, _stamp_name(job), {"inputs": inputs, "outputs": _outputs(job.build_dir),
                **({"c_modules": cmodules.info(job)} if job.settings.c_modules else {})})
    app = fw.image("app")
    return StepResult(STEP, f"built {job.label}: {app.path.stat().st_size / 2**20:.2f} MB app in {job.build_dir}")


def built_c_modules(job: Job) -> list[dict] | None:
    """The C modules the last build of this job linked in, as cmodules.info records them
    (build-info.json carries them, verify imports their names); None: no build recorded."""
    stamp = state.read(job.settings.state_dir, _stamp_name(job))
    if not stamp:
        return None
    records = stamp.get("c_modules", [])
    return [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []


def _log(job: Job) -> Path:
    return job.settings.state_dir / f"build-{job.key}.log"


def _invalidate_stale_config(job: Job, inputs: dict) -> None:
    """Remove the build's sdkconfig when the defaults it came from may have changed."""
    sdkconfig = job.build_dir / "sdkconfig"
    if not sdkconfig.exists():
        return
    last = state.read(job.settings.state_dir, f"sdkconfig-{job.key}") or {}
    wanted = {"overlay": inputs["overlay"], "idf": inputs["idf"], "profile": inputs["profile"]}
    if last != wanted:
        events.note(STEP, f"overlay, profile or ESP-IDF changed: removing {sdkconfig} so the new defaults apply")
        sdkconfig.unlink()
    state.write(job.settings.state_dir, f"sdkconfig-{job.key}", wanted)


def _run_make(job: Job, env: dict) -> None:
    def on_line(line: str) -> None:
        m = _NINJA_PROGRESS.match(line)
        if m:
            events.progress(STEP, int(m.group(1)), int(m.group(2)), m.group(3)[:60])

    try:
        code = shell.stream(STEP, toolchain.command(job, make_command(job), job.port_dir), cwd=job.port_dir, env=env, log=_log(job), on_line=on_line)
    finally:
        events.done(STEP)
    if code != 0:
        events.log_tail(STEP, _log(job).read_text(errors="replace").strip().splitlines()[-15:])
        raise UserError(STEP, f"make failed with exit code {code} for {job.label}: the first error is in "
                              f"the lines above or in {_log(job)}; fix its cause, then {job.retry} resumes")


# ---- the firmware a build leaves ---------------------------------------------------------

def hint(job: Job) -> str:
    """What to run to get this job's firmware."""
    return f"run `invoke build --profile {job.profile.name} --micropython {job.release.version}`"


def check_images(job: Job) -> firmware.Firmware:
    """The images are what the profile needs (the judge's rules): one line naming the first problem."""
    fw = firmware.load(job.build_dir, hint=hint(job))
    judge.refuse(judge.firmware_problems(fw, job.profile), prefix=f"{STEP}: {job.label}: ")
    app = fw.image("app")
    table = partitions.parse(fw.image("partition-table").path.read_bytes())
    app_part = layout.app_slot(table, app.offset)  # ota_0 in an OTA layout: flasher_args.json's offset
    size = app.path.stat().st_size
    events.note(STEP, f"images checked: {firmware.chip_name(fw.chip)}, {job.profile.flash_size_label} in the header, "
                      f"app uses {size * 100 // app_part.size}% of {app_part.label}")
    return fw
