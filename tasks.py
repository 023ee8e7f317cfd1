"""mpforge tasks: one thin task per pipeline step. The work is in mpforge/.

    invoke build-all                      fetch, overlay, configure and build
    invoke flash --port /dev/ttyACM0      write the firmware to a board
    invoke verify --port /dev/ttyACM0     prove on the board that it is right

`invoke --list` shows every task, `invoke --help TASK` its flags.
Settings: invoke.yaml (key `mpforge`), INVOKE_MPFORGE_* variables, flags.
"""

import sys

# invoke turns Python's .pyc cache off for the run (its --write-pyc flag), so every task
# would compile mpforge again; mpforge's modules are a package like any other: cache them.
sys.dont_write_bytecode = False

from mpforge import ui  # noqa: E402 -- after the line above, so that mpforge is cached too
from mpforge.cli import lazy, settings, task  # noqa: E402

# Imported on first use: `invoke --list` and `invoke status` load no board code.
pipeline = lazy("mpforge.build.pipeline")
verify_mod = lazy("mpforge.board.verify")
from mpforge.model.settings import job as job_for, jobs as jobs_for

PROFILE = ("board profile: a name from boards/ or a .toml path (default: setting mpforge.profile; "
           "auto: setting profile_without_board)")
BOARD_PROFILE = ("board profile: a name from boards/ or a .toml path; default or auto: the one that fits "
                 "each board (setting mpforge.profile)")
RELEASE = "MicroPython release, e.g. v1.28.0 (default: setting mpforge.micropython.version)"
BACKEND = ("where ESP-IDF runs: native (installed here by install-prereqs) or container (Espressif's "
           "espressif/idf:<tag> image, with docker or podman) (default: setting mpforge.build.backend)")


# ---- pipeline: install-prereqs, fetch, mpy-cross, overlay, config, build --------

@task(help={"yes": "install missing OS packages without asking (uses sudo when not root)",
            "profile": PROFILE, "micropython": RELEASE, "backend": BACKEND})
def install_prereqs(c, yes=False, profile=None, micropython=None, backend=None):
    """Install OS packages, ESP-IDF at the release's version, its tools.

    With --backend container: pull the release's ESP-IDF image instead (nothing is installed here).
    """
    ui.step_results(pipeline.run_step(job_for(settings(c, yes=yes, backend=backend), profile, micropython),
                                      "install-prereqs"))


@task(help={"profile": PROFILE, "micropython": RELEASE})
def fetch(c, profile=None, micropython=None):
    """Clone MicroPython at the release's pinned commit.

    With the submodules the esp32 port needs."""
    ui.step_results(pipeline.run_step(job_for(settings(c), profile, micropython), "fetch"))


@task(name="mpy-cross", help={"profile": PROFILE, "micropython": RELEASE, "backend": BACKEND})
def mpy_cross(c, profile=None, micropython=None, backend=None):
    """Build mpy-cross (skipped when newer than its sources); fetches first if needed."""
    job = job_for(settings(c, backend=backend), profile, micropython)
    ui.step_results(pipeline.run_through(job, "mpy-cross", start="fetch"))


@task(help={"profile": PROFILE, "micropython": RELEASE,
            "revert": "remove every file mpforge placed and restore edited files from git"})
def overlay(c, profile=None, micropython=None, revert=False):
    """Place the profile's board variant into the port.

    Into ports/esp32/boards; fetches first if needed."""
    job = job_for(settings(c), profile, micropython)
    ui.step_results(pipeline.revert_overlay(job) if revert else pipeline.run_through(job, "overlay", start="fetch"))


@task(help={"profile": PROFILE, "micropython": RELEASE,
            "json": "print the resolved settings, defaults list and partitions as JSON on stdout",
            "backend": BACKEND})
def config(c, profile=None, micropython=None, json=False, backend=None):
    """Resolve the final sdkconfig before the build and check it against the profile.

    Runs the board's cmake files as the port does, resolves the defaults with
    the IDF's Kconfig (kconfgen, offline), validates the partition table and
    prints each setting next to what the profile wants; exits non-zero on any
    mismatch. `build` runs this check first.
    """
    ui.step_results(pipeline.check_config(job_for(settings(c, backend=backend), profile, micropython)), as_json=json)


FROZEN = "a folder of .py modules or a manifest.py to freeze into the firmware (over the profile's [frozen] path)"
C_MODULE = ("a C module to link into the firmware: a folder with a micropython.cmake, or that file "
            "(repeat for several; adds to setting mpforge.build.c_modules)")


@task(iterable=["c_module"], help={"profile": PROFILE, "micropython": RELEASE,
                                   "yes": "install missing OS packages without asking",
                                   "frozen": FROZEN, "backend": BACKEND, "c_module": C_MODULE})
def build(c, profile=None, micropython=None, yes=False, frozen=None, backend=None, c_module=None):
    """Build the firmware, running every earlier step that is not done yet."""
    job = job_for(settings(c, yes=yes, frozen=frozen, backend=backend, c_modules=c_module), profile, micropython)
    ui.step_results(pipeline.run_through(job, "build"))


@task(iterable=["profile", "micropython", "c_module", "port"],
      help={"profile": PROFILE + "; repeat for several", "micropython": RELEASE + "; repeat for several",
            "yes": "install missing OS packages without asking", "frozen": FROZEN, "backend": BACKEND,
            "c_module": C_MODULE,
            "port": "build the profile that fits the board on this port, read through its ROM bootloader "
                    "(repeat for several boards; an explicit --profile wins)"})
def build_all(c, profile=None, micropython=None, yes=False, frozen=None, backend=None, c_module=None, port=None):
    """The whole chain, for the default profile and release or for each one given."""
    s = settings(c, yes=yes, frozen=frozen, backend=backend, c_modules=c_module)
    if port and s.auto_profile(profile):  # the profile of each board (docs/auto-profile.md)
        from mpforge.board import fleet
        profile = ui.chosen_profiles("build-all", fleet.board_profiles(s, port, step="build-all",
                                                                micropython=micropython))
        if not profile:  # a dry run reads no board
            return
    for job in jobs_for(s, profile, micropython):
        ui.block(f"== {job.label}")
        ui.step_results(pipeline.run_through(job, "build"))


@task(locks=(), help={"profile": PROFILE, "micropython": RELEASE, "backend": BACKEND})
def status(c, profile=None, micropython=None, backend=None):
    """Show each step's state for a profile and release (changes nothing)."""
    job = job_for(settings(c, backend=backend), profile, micropython)
    ui.status_table(job.label, pipeline.status_rows(job))


# ---- release artifacts: dist ------------------------------------------------------

@task(help={"profile": PROFILE, "micropython": RELEASE,
            "dest": "output folder to put <profile>-<release>/ in (default: dist/ in the project)"})
def dist(c, profile=None, micropython=None, dest=None):
    """Collect a build into dist/<profile>-<release>/ for flashing without mpforge.

    Writes firmware.bin (merged, at the chip's bootloader offset: 0x0 on an
    ESP32-S3), the separate images, flash_args for
    `esptool write-flash @flash_args`, an ESP Web Tools manifest.json (the
    images at their offsets: a browser install keeps NVS), index.html to
    install from a browser (`invoke serve`), build-info.json and SHA256SUMS.
    Does nothing when the dist is up to date.
    """
    from mpforge.dist import collect
    collect.collect(job_for(settings(c), profile, micropython), dest)


# --dir, not a positional [DIR]: invoke has no optional positional arguments.
@task(locks=(), help={
    "dir": "a dist folder, or a folder of them (default: dist/ in the project)",
    "http_port": "TCP port on localhost (default 8000; 0 picks a free one)",
})
def serve(c, dir=None, http_port=8000):
    """Serve dist folders on localhost to install from a browser; Ctrl-C stops.

    Checks each dist against its SHA256SUMS and manifest first, then prints
    the URL of each build's install page (index.html, made by `invoke dist`).
    """
    from mpforge.dist import collect, serve as serve_mod
    server = serve_mod.open_server(dir or collect.default_root(), int(http_port))
    for build, url in server.page_urls():
        ui.say("serve", f"{build.label}: {url}")
    ui.say("serve", f"listening on {server.url} (localhost only); Ctrl-C stops")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        ui.say("serve", "stopped")
    finally:
        server.server_close()


# ---- builds past one machine: ci ---------------------------------------------------

@task(locks=(), iterable=["profile", "micropython"], help={
    "profile": "a profile name from boards/ for the matrix; repeat for several (default: setting ci.profiles, "
               "else every profile)",
    "micropython": RELEASE.split(" (")[0] + "; repeat for several (default: setting ci.releases, else every release)",
    "dest": "the workflow file to write (default: .github/workflows/mpforge.yml)",
    "pages": "also publish every dist and its install page to GitHub Pages (default: setting ci.pages)",
    "all": "every profile by every release (without it and with no -B/-m or ci settings: the default pair)",
})
def ci(c, profile=None, micropython=None, dest=None, pages=False, all=False):
    """Write a GitHub Actions workflow of container builds.

    One job per (profile, release), the dists as artifacts.

    Each job runs `invoke config`, `invoke build` and `invoke dist` with the
    container backend in the ESP-IDF image of its release, then uploads the
    dist folder. A test job runs `nox --session tests`. Actions are pinned.
    """
    from mpforge.build import workflow
    done = workflow.generate(settings(c), profile, micropython, dest, pages or None, every=all)
    what = f"{len(done.pairs)} builds ({len(done.profiles)} profiles x {len(done.releases)} releases)"
    ui.say("ci", f"{done.path}: {what}, {'written' if done.changed else 'up to date'}")
    if not (all or profile or micropython):
        ui.say("ci", "more builds: -B PROFILE / -m RELEASE (repeat), or --all for every pair")


# ---- board side: erase, flash, ports ----------------------------------------------

_PORT_HELP = ("serial port: a device path or a pyserial URL (socket://, rfc2217://); "
              "repeat for several boards; default: the one board found")
VERBOSE = "show each board's log live (esptool's output, the REPL exchange); it is always saved in <workdir>/logs"


@task(locks=("port",), iterable=["port"], help={
    "port": _PORT_HELP,
    "baud": "transfer baud rate (default: setting `baud`, 921600; falls back to 460800, 115200)",
    "verbose": VERBOSE,
})
def erase(c, port=None, baud=None, verbose=False):
    """Erase the whole flash of one or more boards.

    Their files are copied into <workdir>/backups first."""
    from mpforge.board import fleet  # imported here: esptool loads only when a board task runs
    ui.board_results("erase", fleet.erase_boards(settings(c), port, baud=baud, verbose=verbose))


@task(locks=("workdir", "port"), iterable=["port"], help={
    "port": _PORT_HELP,
    "profile": BOARD_PROFILE,
    "micropython": "the release whose build to flash: " + RELEASE,
    "force": "flash even if the board's flash or PSRAM does not match the profile",
    "erase": "erase the whole flash first (the board's files are copied into <workdir>/backups first)",
    "baud": "transfer baud rate (default: setting `baud`, 921600; falls back to 460800, 115200)",
    "firmware": "flash this instead of the profile's build: an `invoke dist` folder or zip "
                "(checked against its SHA256SUMS; its profile is checked against the board) or a build folder",
    "discard_files": "when the filesystem moves and the board's cannot be copied, flash anyway "
                     "and start with an empty one",
    "verbose": VERBOSE,
    "json": "print each board's result (bytes written, the reset used and why) as JSON on stdout",
})
def flash(c, port=None, profile=None, micropython=None, force=False, erase=False, baud=None,
          firmware=None, discard_files=False, verbose=False, json=False):
    """Write the built firmware to boards, then reset them.

    Only the regions that changed are written.

    When the new firmware puts its filesystem elsewhere, the board's files are
    backed up into the workdir first and written back into the new filesystem.
    """
    from mpforge.board import fleet
    with ui.json_only(json):
        results = fleet.flash_boards(settings(c), port, profile=profile, micropython=micropython, force=force,
                                     erase=erase, baud=baud, firmware_dir=firmware,
                                     discard_files=discard_files, verbose=verbose)
    ui.board_results("flash", results, as_json=json)


@task(iterable=["port"], help={"port": _PORT_HELP, "baud": "transfer baud rate (default: setting `baud`)",
                               "verbose": VERBOSE})
def backup(c, port=None, baud=None, verbose=False):
    """Copy the files on a board's filesystem to the workdir.

    They go into <workdir>/backups/<MAC>/<time>/, read through the ROM bootloader:
    this works whether or not the firmware runs."""
    from mpforge.board import fleet
    ui.board_results("backup", fleet.backup_boards(settings(c), port, baud=baud, verbose=verbose))


@task(iterable=["port"], help={
    "port": _PORT_HELP,
    "backup": "the backup folder to write (default: the board's latest, by its MAC)",
    "discard_files": "write over a filesystem that cannot be read (its files cannot be saved first)",
    "baud": "transfer baud rate (default: setting `baud`)",
    "verbose": VERBOSE,
})
def restore(c, port=None, backup=None, discard_files=False, baud=None, verbose=False):
    """Write a backup's files back onto a board.

    They become the board's filesystem, in the board's current layout; the files
    on it are backed up first."""
    from mpforge.board import fleet
    ui.board_results("restore", fleet.restore_boards(settings(c), port, backup=backup,
                                                     discard_files=discard_files, baud=baud, verbose=verbose))


@task(locks=("port",), iterable=["port"], help={
    "port": _PORT_HELP + "; the boards are read in parallel",
    "baud": "transfer baud rate (default: setting `baud`)",
    "json": "print the report as JSON on stdout instead of tables (one document for all boards)",
    "new_profile": "write a profile from the board: NAME (boards/NAME.toml) or a path ending .toml; "
                   "one --port; never overwrites a file",
    "repl": "first ask the MicroPython running on the board (over its REPL, before the reset) "
            "what it is and how much of the board it uses",
    "verbose": VERBOSE,
})
def detect(c, port=None, baud=None, json=False, new_profile=None, repl=False, verbose=False):
    """Read a board's chip, flash, PSRAM and USB path; name the profiles that fit it.

    Through the ROM bootloader, so any firmware (or none) may be on the board.
    Says so where a fact cannot be read. docs/detect.md says where each comes from.
    """
    from mpforge.board import fleet, newprofile
    target = newprofile.target(new_profile, port) if new_profile is not None else None
    boards = fleet.detect_boards(settings(c), port, baud=baud, verbose=verbose, live_to_stderr=json, repl=repl)
    ui.detect_report(boards, as_json=json)
    if target is not None and boards:
        ui.profile_written(newprofile.write(boards[0], target), boards[0], as_json=json)


@task(locks=())
def ports(c):
    """List the serial ports that look like ESP32-S3 boards."""
    from mpforge.board import ports as ports_mod
    ui.port_list(ports_mod.candidates())


@task(locks=(), help={"json": "print the list as JSON on stdout instead of a table"})
def boards(c, json=False):
    """List the board profiles and where verify proved them.

    Flash, PSRAM, variant, and the releases a full verify passed on."""
    from mpforge.model import catalog
    ui.listing(catalog.boards(settings(c)), ui.boards_table, as_json=json)


@task(locks=(), help={"json": "print the list as JSON on stdout instead of a table"})
def releases(c, json=False):
    """List the MicroPython releases mpforge builds.

    Pinned commit, ESP-IDF, overlay line, and which is the default."""
    from mpforge.model import catalog
    ui.listing(catalog.releases_rows(settings(c)), ui.releases_table, as_json=json)


@task(help={"tag": "the release tag to pin, e.g. v1.29.0",
            "tree": "read the tag from this MicroPython checkout instead of the network",
            "url": "the MicroPython repository to ask (default: setting mpforge.micropython.url)",
            "json": "print the pinned entry and the facts read as JSON on stdout"})
def releases_add(c, tag, tree=None, url=None, json=False):
    """Pin a new MicroPython release in your releases_file, once every check passed.

    Finds the tag's commit (git ls-remote, or --tree), reads the port's facts at
    the tag (IDF versions, board files, variant mechanism, submodules), picks
    the overlay line they match and checks every profile's config on it; else
    refuses, naming what upstream changed. Setting mpforge.releases_file says where.
    """
    from mpforge.source import releaseadd
    ui.release_added(releaseadd.add(settings(c), tag, tree=tree, url=url), as_json=json)


# ---- board side: verify -------------------------------------------------------------


@task(locks=("port",), iterable=["frozen_module", "port", "c_module_name"], help={
    "frozen_module": "a module frozen into the firmware that must import on the board (repeatable)",
    "c_module_name": "a C module built into the firmware that must import on the board, for one whose "
                     "name its sources do not show (repeatable)",
    "firmware": "a dist folder or zip (from `invoke dist`): check the board against its build-info.json",
    "port": _PORT_HELP + "; the boards are verified in parallel",
    "profile": BOARD_PROFILE.replace("fits each board", "each board's firmware was built for"),
    "micropython": "the release the board should run: " + RELEASE,
    "json": "print the report as JSON on stdout instead of a table (one document for all boards)",
    "verbose": VERBOSE,
})
def verify(c, port=None, profile=None, micropython=None, json=False, frozen_module=None, firmware=None,
           verbose=False, c_module_name=None):
    """Prove on the board(s) that they run the firmware built for the profile.

    Runs scripts/board_probe.py in the raw REPL and checks the board name,
    release, build id, flash size, PSRAM heap, filesystem size and CPU
    frequency; exits non-zero if any check fails on any board.
    """
    job, modules, c_names = verify_mod.target(settings(c), firmware, profile, micropython)
    ui.verify_report(verify_mod.run(job, port, frozen_modules=[*modules, *(frozen_module or ())],
                                    c_modules=[*c_names, *(c_module_name or ())],
                                    verbose=verbose, live_to_stderr=json), as_json=json)
