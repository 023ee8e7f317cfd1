"""Run one piece of work on many boards at once: a thread, a display line and a log per port.

Used by erase and flash (esptool) and by verify (the REPL). A board's failure
(a UserError) becomes its result and the other boards go on. Imports no
esptool, so verify does not load it.
"""

from __future__ import annotations

import threading
import traceback
from pathlib import Path

from mpforge import events, lock
from mpforge.board import portlog
from mpforge.errors import UserError


class BoardReporter:
    """One board's progress to its line of the display, and everything it says to its log.

    It is the Reporter device.py's esptool bridge calls (step, found, progress,
    esptool); verify calls step, status and detail. The line is an event
    (mpforge.events) the task layer's display draws.
    """

    def __init__(self, task: str, port: str, log: portlog.PortLog):
        self.task = task
        self.port = port
        self.log = log
        self.board = None  # policy.Fingerprint once known
        self.warnings: list[str] = []

    def step(self, text: str, keep: bool = False) -> None:
        """What the board is doing now (`keep`: kept for transport.Reporter's callers; every step is logged)."""
        self.log.write(text)
        events.board_status(self.task, self.port, text)

    def status(self, text: str, style: str = "") -> None:
        """The board's outcome on its line (not logged: the caller logs what it stands for)."""
        events.board_status(self.task, self.port, text, style)

    def found(self, board) -> None:
        self.board = board
        self.step(board.describe())

    def progress(self, done: int, total: int, sent: int = 0) -> None:
        """done of total bytes (sent: the bytes that went over the link for them, when fewer)."""
        events.board_progress(self.task, self.port, done, total, sent)

    def esptool(self, text: str, warning: bool = False) -> None:
        """esptool's own output: to the log; its warnings are shown again at the end."""
        if warning:
            self.warnings.append(text)
        self.detail(text)

    def detail(self, text: str) -> None:
        """A line for the log (shown live with --verbose): esptool's output, the REPL exchange."""
        self.log.write(text)
        events.board_detail(self.task, self.port, text)


def _run_one(work, port: str, reporter: BoardReporter, failed):
    reporter.log.mark("began")
    try:
        with lock.port(port):  # one mpforge run per board at a time
            result = work(port, reporter)
    except UserError as exc:
        reporter.log.write(f"error: {exc}")
        result = failed(port, reporter, str(exc))
    except Exception as exc:  # a bug: keep the other boards going, show the traceback
        events.warn(reporter.task, f"{port}: {traceback.format_exc().rstrip()}")
        reporter.log.write(traceback.format_exc())
        result = failed(port, reporter, f"unexpected error: {exc!r}")
    reporter.log.mark("finished")
    result.warnings = reporter.warnings
    return result


def run(step: str, port_list: list[str], work, *, workdir: Path, failed, verbose: bool = False,
        to_stderr: bool = False) -> list:
    """work(port, reporter) -> result on every port, in parallel; results in port order.

    A UserError on a port becomes failed(port, reporter, message). Each port's
    log is <workdir>/logs/<step>-<port>.log (portlog.path). The live lines
    (events.boards) go to stderr with to_stderr, verbose shows each log live.
    """
    with events.boards(step, port_list, verbose=verbose, stderr=to_stderr):
        reporters = {port: BoardReporter(step, port, portlog.PortLog(workdir, step, port))
                     for port in port_list}
        try:
            if len(port_list) == 1:  # in this thread, so Ctrl-C stops it at once
                port = port_list[0]
                return [_run_one(work, port, reporters[port], failed)]
            results: dict[str, object] = {}
            threads = []
            for port in port_list:
                def target(port=port):
                    results[port] = _run_one(work, port, reporters[port], failed)
                thread = threading.Thread(target=target, name=f"{step} {port}", daemon=True)
                thread.start()
                threads.append(thread)
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.2)  # short joins keep Ctrl-C responsive
            return [results[port] for port in port_list]
        finally:
            for reporter in reporters.values():
                reporter.log.close()
