"""What library code has to say while it works, as events the task layer renders.

Library modules never print. A step says what it is doing with note(), a
doubt with warn(), a dry run what it would run with would(), and long work
its progress with progress()/activity()/done(). The task layer
(mpforge.cli.task) hands the events to mpforge.ui for the length of a task;
a caller that listens to nothing (a script, a test) gets nothing on its
stdout, and a test can listen and look at what was said.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    """kind: "note" (a step's line), "warn", "would" (a dry run's command),
    "progress" (done of total, with what), "activity" (work without a total),
    "done" (the end of a progress line), "log_tail" (lines of a failed command's log),
    "waiting" (a run that waits for another to finish, e.g. for a lock); for work on
    several boards at once: "boards_open" (lines: the ports), "board_status",
    "board_progress", "board_detail" (a log line, shown with verbose), "boards_close"; "ask"
    (a yes/no question, which the listener answers)."""

    step: str
    kind: str
    text: str = ""
    done: int = 0
    total: int = 0
    lines: tuple[str, ...] = ()
    port: str = ""
    style: str = ""  # a rich style for a board's status ("green", "red")
    verbose: bool = False  # boards_open: show board_detail lines
    stderr: bool = False  # boards_open: the display goes to stderr (stdout holds a JSON document)
    sent: int = 0  # board_progress: the bytes sent over the link for `done` (less when compressed)


_listeners: list = []


def _emit(event: Event) -> None:
    for listener in list(_listeners):
        listener(event)


def note(step: str, text: str) -> None:
    _emit(Event(step, "note", text))


def warn(step: str, text: str) -> None:
    _emit(Event(step, "warn", text))


def would(step: str, command: str) -> None:
    _emit(Event(step, "would", command))


def progress(step: str, done: int, total: int, what: str = "") -> None:
    _emit(Event(step, "progress", what, done, total))


def activity(step: str, what: str) -> None:
    _emit(Event(step, "activity", what))


def done(step: str) -> None:
    _emit(Event(step, "done"))


def log_tail(step: str, lines: list[str]) -> None:
    _emit(Event(step, "log_tail", lines=tuple(lines)))


def ask(step: str, question: str) -> bool:
    """A yes/no question for the user: yes only when a listener answers yes (mpforge.ui asks
    on a terminal); a caller that listens to nothing gets no."""
    return any([listener(Event(step, "ask", question)) is True for listener in list(_listeners)])


def waiting(text: str) -> None:
    """What this run waits for, said once (no step: a lock is taken before any step)."""
    _emit(Event("", "waiting", text))


@contextlib.contextmanager
def boards(step: str, ports: list[str], *, verbose: bool = False, stderr: bool = False):
    """Work on several boards at once: one live line per port until the block ends."""
    _emit(Event(step, "boards_open", lines=tuple(ports), verbose=verbose, stderr=stderr))
    try:
        yield
    finally:
        _emit(Event(step, "boards_close"))


def board_status(step: str, port: str, text: str, style: str = "") -> None:
    _emit(Event(step, "board_status", text, port=port, style=style))


def board_progress(step: str, port: str, done: int, total: int, sent: int = 0) -> None:
    _emit(Event(step, "board_progress", done=done, total=total, port=port, sent=sent))


def board_detail(step: str, port: str, text: str) -> None:
    _emit(Event(step, "board_detail", text, port=port))


@contextlib.contextmanager
def listening(listener):
    """Call listener(event) for every event until the block ends."""
    _listeners.append(listener)
    try:
        yield listener
    finally:
        _listeners.remove(listener)
