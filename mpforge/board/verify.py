"""verify: prove on the board that it runs the firmware built for the profile.

For each port, in parallel (board/parallel.py): run the probe in the raw REPL
(board/repl.py) and check its report against the profile and the release
(board/checks.py). The result is a Report; ui.verify_report shows it as a
table or JSON, and ends the task when a board failed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from mpforge import PROJECT_ROOT, events
from mpforge.board.checks import Check, failed, report, run_checks, summary, table
from mpforge.board.repl import PROBE, probe_board
from mpforge.errors import UserError, line

STEP = "verify"


def target(settings, firmware=None, profile: str | None = None, micropython: str | None = None):
    """(job, frozen modules, C modules' names) to check a board against: a dist folder's
    build-info.json when given, else the profile and release asked for (settings.job, as
    every task) and the C modules its last build linked in (else those of build.c_modules)."""
    from mpforge.build import cmodules, make
    from mpforge.model import settings as settings_mod

    if firmware:
        from mpforge.dist import load  # esptool and the dist code: only for a dist folder

        built = load.load(firmware)
        return (load.job_for(built, settings), list(built.info.get("frozen_modules") or []),
                cmodules.names_in_info(built.info))
    if settings.auto_profile(profile):  # each board's own, chosen once its firmware answers
        settings_mod.release(settings, micropython)  # an unknown release: refused before any port opens
        return FromBoard(settings, micropython), [], []
    job = settings_mod.job(settings, profile, micropython)
    built = make.built_c_modules(job)
    if built is not None:
        c_names = cmodules.names_in_info({"c_modules": built})
    else:
        c_names = cmodules.names(job) if job.settings.c_modules else []
    if not (job.frozen and job.frozen.exists()):
        return job, [], c_names
    from mpforge.build import frozen

    return job, frozen.module_names(job), c_names


@dataclass(frozen=True)
class FromBoard:
    """verify with the profile auto (docs/auto-profile.md): each board is checked against the
    profile whose firmware it runs, named by the board name that firmware reports
    (MICROPY_HW_BOARD_NAME, which each profile sets to its own). The ROM bootloader is not
    asked: that would stop the firmware verify has to talk to."""

    settings: object
    micropython: str | None = None
    label: str = "the profile of each board's firmware"

    def choose(self, probe: dict, port: str):
        """(job, frozen modules, C modules' names) for the board whose probe this is."""
        from mpforge.model import profiles

        machine = probe.get("machine")
        if not machine:
            raise UserError(STEP, f"the firmware on {port} reports no board name (os.uname); "
                            "pass --profile")
        named = machine.rsplit(" with ", 1)[0]
        found = [p.name for p in profiles.loadable()[0] if p.board_name == named]
        if len(found) > 1:
            raise UserError(STEP, f"{len(found)} profiles build the board name '{named}' the firmware on "
                            f"{port} reports: {', '.join(found)}; pick one with --profile")
        if not found:
            raise UserError(STEP, f"the firmware on {port} reports the board name '{named}', which no "
                            f"profile in boards/ builds; flash one (`invoke flash --port {port}`) "
                            "or pass --profile")
        return target(self.settings, None, found[0], self.micropython)


@dataclass
class Board:
    """One port's verify: its checks (empty when the probe never ran) or the error that stopped it."""

    port: str
    checks: list[Check]
    probe: dict | None = None
    error: str = ""
    log: Path | None = None
    warnings: list[str] | None = None
    job: object = None  # the job it was checked against (with the profile auto: its own)
    chosen: str = ""  # with the profile auto: which profile, and why

    @property
    def ok(self) -> bool:
        return not self.error and not failed(self.checks)

    @property
    def counted(self) -> list[Check]:
        """The checks that apply (n/a left out)."""
        return [c for c in self.checks if c.passed is not None]

    @property
    def failures(self) -> list[Check]:
        return failed(self.checks)

    def problem(self, profile) -> str:
        """Why the board failed, in one line naming its log ('' when it passed)."""
        if self.ok:
            return ""
        return f"{self.error or line(STEP, summary(self.checks, port=self.port, profile=profile))} (log: {self.log})"

    def document(self, job) -> dict:
        if self.error:
            return {"ok": False, "port": self.port, "error": self.error, "log": str(self.log)}
        job = self.job or job
        chosen = {"profile_chosen": self.chosen} if self.chosen else {}
        return {**report(self.checks, self.probe, port=self.port, profile=job.profile,
                         release=job.release.version), **chosen, "log": str(self.log)}


@dataclass
class Report:
    """Every board's verify against one job (empty in a dry run)."""

    job: object  # settings.Job
    boards: list[Board] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(b.ok for b in self.boards)

    @property
    def failure(self) -> UserError | None:
        """The one line the task ends with when a board failed."""
        bad = [b for b in self.boards if not b.ok]
        if not bad:
            return None
        if len(self.boards) == 1:
            board = bad[0]
            return UserError(f"{board.error} (log: {board.log})") if board.error else UserError(
                STEP, summary(board.checks, port=board.port, profile=(board.job or self.job).profile))
        return UserError(STEP, f"{len(bad)} of {len(self.boards)} boards failed (see above)")

    def document(self) -> dict:
        """The --json document: one board's report, or all boards'."""
        if len(self.boards) == 1:
            return self.boards[0].document(self.job)
        if isinstance(self.job, FromBoard):  # each board its own profile
            return {"ok": self.ok, "profile": "auto", "boards": [b.document(self.job) for b in self.boards]}
        return {"ok": self.ok, "profile": self.job.profile.name, "micropython": self.job.release.version,
                "boards": [b.document(self.job) for b in self.boards]}


def _verify_one(port: str, reporter, job, timeout: float, frozen_modules, c_modules=()) -> Board:
    probe = probe_board(port, timeout=timeout, imports=[*frozen_modules, *c_modules], reporter=reporter)
    chosen = ""
    if isinstance(job, FromBoard):  # the profile of the firmware the board runs
        job, modules, c_names = job.choose(probe, port)
        chosen = f"{job.profile.name} (the board name its firmware reports)"
        reporter.step(f"profile {chosen}")
        more = [m for m in (*modules, *c_names) if m not in (*frozen_modules, *c_modules)]
        frozen_modules = list(dict.fromkeys([*modules, *frozen_modules]))
        c_modules = list(dict.fromkeys([*c_names, *c_modules]))
        if more:  # modules this profile's build has: the probe imports them too
            probe = probe_board(port, timeout=timeout, imports=[*frozen_modules, *c_modules], reporter=reporter)
    since = job.release.facts.build_id_since if job.release.line else None  # a dist's unknown release: look it up
    board = Board(port, run_checks(probe, job.profile, job.release.version, frozen_modules, since,
                                   c_modules=c_modules, mcu_name=job.release.mcu_name), probe,
                  job=job, chosen=chosen)
    bad, total = board.failures, len(board.counted)
    if bad:
        reporter.status(f"FAILED: {len(bad)} of {total} checks ({', '.join(c.name for c in bad)})", style="red")
    else:
        reporter.status(f"ok: {total} of {total} checks passed", style="green")
    reporter.log.write(table(board.checks))
    return board


def run(job, port_list=None, *, frozen_modules=(), verbose: bool = False, live_to_stderr: bool = False,
        c_modules=()) -> Report:
    """Probe every board in parallel and check each against the job; remember a pass.
    c_modules: names of C modules that must be built into the firmware.

    live_to_stderr: the live lines go to stderr (for --json, whose document is stdout).
    """
    from mpforge.board import parallel, portlog, ports

    settings = job.settings
    # --port flags, else the setting, else the one ESP32-S3 on USB (or a one-line error)
    port_list = ports.choose(port_list, settings.port)
    if settings.dry:
        events.would(STEP, f"{PROBE.relative_to(PROJECT_ROOT)} in the raw REPL on {', '.join(port_list)}, "
                           f"checked against {job.label}")
        return Report(job)
    timeout = settings.verify_timeout
    boards = parallel.run(
        STEP, port_list, lambda port, reporter: _verify_one(port, reporter, job, timeout, frozen_modules,
                                                      list(dict.fromkeys(c_modules))),
        workdir=settings.workdir, verbose=verbose,
        failed=lambda port, reporter, error: Board(port, [], error=error), to_stderr=live_to_stderr)
    for board in boards:
        board.log = portlog.path(settings.workdir, STEP, board.port)
    if boards and all(b.ok for b in boards):  # proven only by a verify where every check passed
        for proven in {b.job.key: b.job for b in boards}.values():
            _remember(settings.state_dir, proven)
    return Report(job, boards)


def _remember(state_dir: Path, job) -> None:
    """Note that the profile was proven on a board with this release (`invoke boards` shows it)."""
    from mpforge import state

    seen = state.read(state_dir, "verified") or {}
    releases = seen.setdefault(job.profile.name, {})
    releases[job.release.version] = time.strftime("%Y-%m-%d")
    state.write(state_dir, "verified", seen)
