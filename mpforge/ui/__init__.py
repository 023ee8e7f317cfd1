"""What tasks print: the one output package. Lines, tables, JSON and the reports of
the tasks here; what redraws itself (progress, the boards' live lines) in ui/live.py.
Library code says what it does through mpforge.events; EventPrinter renders it."""

from __future__ import annotations

import contextlib
import dataclasses
import sys

from mpforge.text import size_text  # noqa: F401 -- ui's callers format with it too
from mpforge.ui.live import Boards, Progress


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def line(text: str, stream=None) -> None:
    """A line of text as it is; on a terminal, wrapped at spaces for its width (tables.wrapped),
    so a long line never breaks mid-word. Off a terminal (logs, pipes, tests) it stays one line."""
    stream = stream or sys.stdout
    print(terminal_text(text, stream), file=stream, flush=True)


def terminal_text(text: str, stream=None) -> str:
    """`text` as line() would show it on `stream` (default: stderr), for a caller that hands the
    text to another printer (invoke prints a task's error line itself)."""
    stream = stream or sys.stderr
    if _is_terminal(stream):
        from mpforge.ui import tables

        return tables.wrapped(text, tables.width(stream))
    return text


def say(step: str, message: str) -> None:
    """The one line a step prints, e.g. 'fetch: micropython v1.28.0 at e0e9fbb, up to date'."""
    line(f"{step}: {message}")


def would(step: str, command: str) -> None:
    """Dry run: what would be run or changed."""
    line(f"{step}: would run: {command}")


def warn(step: str, message: str) -> None:
    line(f"{step}: warning: {message}", sys.stderr)


def error(message: str) -> None:
    """A failure's one line, when no task is there to end with it (invoke prints a task's own)."""
    line(f"error: {message}", sys.stderr)


def ask(step: str, question: str) -> bool:
    """A yes/no question on a terminal ('step: question '); without one, the answer is no."""
    if not sys.stdin.isatty():
        return False
    try:
        return input(f"{step}: {question} ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def block(text: str) -> None:
    """A table or a list, as it is (no step name: its lines line up)."""
    print(text, flush=True)


def document(data) -> None:
    """A task's --json output: one JSON document on stdout."""
    import json

    print(json.dumps(data, indent=2), flush=True)


def listing(rows: list[dict], as_table, *, as_json: bool) -> None:
    """Rows as a table (as_table(rows) writes it), or as JSON on stdout."""
    document(rows) if as_json else block(as_table(rows))


def port_note(port: str, text: str, problem: bool = False) -> None:
    """A line under a table of boards for what the table has no room for; a problem goes to stderr."""
    line(f"  {port}: {text}", sys.stderr if problem else sys.stdout)


class EventPrinter:
    """Renders mpforge.events for a task: a note as say(), a warning, a dry run's
    command, and one Progress line per step for progress and activity."""

    def __init__(self):
        self.bars: dict[str, Progress] = {}
        self.boards: dict[str, Boards] = {}  # step -> its live display of boards

    def __call__(self, event) -> bool | None:
        kind = event.kind
        if kind in ("progress", "activity"):
            bar = self.bars.get(event.step) or self.bars.setdefault(event.step, Progress(event.step))
            bar.update(event.done, event.total, event.text) if kind == "progress" else bar.activity(event.text)
        elif kind in ("done", "boards_close"):  # the end of a step's progress line, or of its boards' lines
            shown = (self.bars if kind == "done" else self.boards).pop(event.step, None)
            if shown is not None:
                shown.close()
        elif kind == "note":
            say(event.step, event.text)
        elif kind == "warn":
            warn(event.step, event.text)
        elif kind == "would":
            would(event.step, event.text)
        elif kind == "log_tail":
            log_tail(list(event.lines))
        elif kind == "waiting":
            print(event.text, file=sys.stderr, flush=True)
        elif kind == "boards_open":
            self.boards[event.step] = Boards(event.step, list(event.lines), verbose=event.verbose,
                                             stderr=event.stderr).__enter__()
        elif kind.startswith("board_") and event.step in self.boards:
            display = self.boards[event.step]
            if kind == "board_status":
                display.status(event.port, event.text, style=event.style)
            elif kind == "board_progress":
                display.progress(event.port, event.done, event.total, event.sent)
            elif kind == "board_detail":
                display.detail(event.port, event.text)
        elif kind == "ask":
            return ask(event.step, event.text)
        return None

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()
        for display in self.boards.values():
            display.close()
        self.boards.clear()


def log_tail(lines: list[str]) -> None:
    """The last lines of a failed command's log, shown before its error line."""
    for line in lines:
        print(f"  | {line}")


def config_table(report) -> None:
    """config's Report as a table (ui/tables.py config): each setting, what the profile wants,
    what the resolved sdkconfig has; then its warnings."""
    from mpforge.ui import tables

    block(tables.config(report))
    for w in report.warnings:
        warn("config", w)
    if report.warnings:
        warn("config", "options of components the IDF fetches at build time (managed components such as "
                      "esp_tinyusb) are unknown offline; only IDF options are checked")


def step_result(result) -> None:
    """A step's result: its report (if any), its line, then its failure (if any) ends the task."""
    if result is None:
        return
    if result.report is not None:
        config_table(result.report)
    for line in result.lines:
        say(result.step, line)
    if result.failure is not None:
        raise result.failure


def step_results(results, *, as_json: bool = False) -> None:
    """Each step's result as soon as its step ends (a long chain never holds its lines to the end).

    as_json: a report is the one thing on stdout, as JSON; the steps' lines and
    what they say while they work go to stderr.
    """
    stdout = sys.stdout
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        for result in results:
            if as_json and result.report is not None:
                with contextlib.redirect_stdout(stdout):
                    document(result.report.as_dict())
                result = dataclasses.replace(result, report=None)
            step_result(result)


def status_table(label: str, rows: list[tuple[str, bool, str]]) -> None:
    """`invoke status`: the job, then each step's name, done or to do, and why."""
    from mpforge.ui import tables

    block(tables.status(label, rows))


def boards_table(rows: list[dict]) -> str:
    """`invoke boards` (mpforge.model.catalog.boards) as a table."""
    lines = [("PROFILE", "FLASH", "PSRAM", "VARIANT", "CHECKED ON")]
    for r in rows:
        if "error" in r:
            lines.append((r["profile"], "-", "-", "-", f"broken: {r['error']}"))
            continue
        lines.append((r["profile"] + (" (default)" if r["default"] else ""), r["flash"], r["psram"],
                      r["variant"], ", ".join(r["checked_on"]) or "-"))
    from mpforge.ui import tables

    return tables.table(lines[0], lines[1:], keep=(0, 3))


def releases_table(rows: list[dict]) -> str:
    """`invoke releases` (mpforge.model.catalog.releases_rows) as a table."""
    lines = [("MICROPYTHON", "COMMIT", "ESP-IDF", "OVERLAY", "DEFAULT")]
    for r in rows:
        commit = r["commit"][:12] + (" (first fetch)" if r.get("commit_source") == "recorded on first fetch" else "")
        lines.append((r["micropython"], commit or "unpinned", f"{r['idf']} (>= {r['idf_min']})", r["overlay"],
                      "yes" if r["default"] else ""))
    from mpforge.ui import tables

    return tables.table(lines[0], lines[1:], keep=(0,))


def release_added(added, *, as_json: bool) -> None:
    """`invoke releases-add` (mpforge.source.releaseadd.Added): the entry, what each profile resolved to."""
    if as_json:
        document(added.as_dict())
        return
    r = added.release
    say("releases-add", f"{r.version} is {r.commit[:12]} (from {added.source})")
    say("releases-add", f"line {r.line}, ESP-IDF {r.idf} (>= {r.idf_min})")
    say("releases-add", f"submodules: {', '.join(r.submodules)}")
    rows = [("PROFILE", "FLASH", "PSRAM", "PARTITION TABLE")]
    for rep in added.reports:
        got = {row.setting: row.got for row in rep.rows}
        psram = got.get("PSRAM mode", "") if got.get("PSRAM") == "on" else "off"
        table = got.get("partition table", "?").rsplit("/", 1)[-1]
        rows.append((rep.profile, f"{got.get('flash size', '?')} {got.get('flash mode', '')}", psram,
                     "the profile's own" if table.startswith("partitions-mpforge_") else table))
    from mpforge.ui import tables

    block(tables.table(rows[0], rows[1:], keep=(0,)))
    done = "would pin it in" if added.dry else "pinned in" if added.written else "already pinned, unchanged, in"
    say("releases-add", f"config ok for {len(added.reports)} profiles; {done} {added.releases_file}")
    say("releases-add", f"next: invoke build-all -m {r.version}")


# ---- board tasks: their results ----------------------------------------------------

@contextlib.contextmanager
def json_only(as_json: bool):
    """With --json, what a task says while it works goes to stderr: the document is stdout's."""
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        yield


def board_results(step: str, results, *, as_json: bool = False) -> None:
    """erase / flash / backup / restore: a line for one board, a table for several (as_json:
    one document, {"boards": [...]}); then a failure ends the task in one line naming the
    port's log."""
    from mpforge.errors import UserError

    if as_json:
        document({"ok": all(r.ok for r in results), "boards": [r.document() for r in results]})
        failed = [r for r in results if not r.ok]
        if len(failed) == 1 and len(results) == 1:
            raise UserError(f"{failed[0].error} (log: {failed[0].log})")
        if failed:
            raise UserError(step, f"{len(failed)} of {len(results)} boards failed")
        return
    for result in results:
        for text in dict.fromkeys(result.warnings):  # esptool's, once each
            warn(step, f"{result.port}: {text}")
    if len(results) == 1:
        result = results[0]
        if not result.ok:
            raise UserError(f"{result.error} (log: {result.log})")
        if result.profile_why:  # chosen from the board: which profile, and why
            say(step, f"{result.port}: profile {result.profile_why}")
        first, *more = _outcome(step, result).split("\n")
        say(step, f"{result.port}: {first}")
        for line in more:  # flash's details, on their own line under it
            say(step, f"  {line}")
        return
    from mpforge.ui import tables

    rows = [(r.port, f"{r.board.chip} {r.board.mac}" if r.board else "-", "ok" if r.ok else "FAILED",
             written_text(r) if r.ok else "-", f"{r.seconds:.1f} s" if r.ok else "-") for r in results]
    block(tables.table(("PORT", "BOARD", "RESULT", "WRITTEN", "TIME"), rows, keep=(0, 2, 4)))
    for r in results:  # what the table has no room for: files, and boards left unreset
        for text in (f"profile {r.profile_why}" if r.ok and r.profile_why else "",
                     f"files: {r.files}" if r.ok and r.files else "",
                     r.reset if r.ok and not r.was_reset else ""):
            if text:
                port_note(r.port, text)
    end_if_failed(step, results)


def end_if_failed(step: str, results, what: str = "failed") -> None:
    """End the task if a board failed: one board, in its own line naming its log; several,
    a note for each failed port, then one line counting them."""
    from mpforge.errors import UserError

    failed = [r for r in results if not r.ok]
    if not failed:
        return
    if len(results) == 1:
        raise UserError(f"{failed[0].error} (log: {failed[0].log})")
    for r in failed:
        port_note(r.port, f"{r.error} (log: {r.log})", problem=True)
    raise UserError(step, f"{len(failed)} of {len(results)} boards {what} (see above)")


def chosen_profiles(step: str, results) -> list[str]:
    """build-all --port: the profile chosen for each board, one line each; a board none fits
    ends the task in that board's one line (fleet.board_profiles' Results)."""
    from mpforge.errors import UserError

    for r in results:
        if r.ok:
            say(step, f"{r.port}: profile {r.profile_why}")
    failed = [r for r in results if not r.ok]
    if len(failed) == 1:  # that board's own line, even among several
        raise UserError(f"{failed[0].error} (log: {failed[0].log})")
    end_if_failed(step, results, "have no profile")
    return list(dict.fromkeys(r.profile for r in results))


def _outcome(step: str, result) -> str:
    reset = f"; {result.reset}" if result.reset else ""
    if step == "erase":
        files = f"; files: {result.files}" if result.files else ""
        return f"{result.board.describe()}: erased in {result.seconds:.1f} s{files}{reset}"
    if step in ("backup", "restore"):
        return f"{result.board.describe()}: {result.files}{reset}"
    # flash: two lines within 80 columns (what was written and how long it took; then the
    # profile, the files and the reset); the board's facts are in its live line, each
    # image's outcome in the live lines, the port's log and --json
    files = "files kept" if result.files.startswith("kept") else f"files: {result.files}" if result.files else ""
    return f"{flash_summary(result)}\n{'; '.join(t for t in (result.profile, files, result.reset) if t)}"


def sent_text(result) -> str:
    """' (620 KB sent)': the bytes sent over the link for those written, where they differ
    (esptool sends them compressed); '' where they do not."""
    sent = result.bytes_sent
    return f" ({size_text(sent)} sent)" if sent and sent != result.bytes_written else ""


def written_text(result) -> str:
    """The bytes written to flash, then the bytes sent for them: '1.6 MB (620 KB sent)'."""
    return size_text(result.bytes_written) + sent_text(result)


def flash_summary(result) -> str:
    """flash's first line for a board: the bytes written to flash, the bytes sent for them in
    brackets ("0 B written (identical)" when nothing changed), the time, and the baud rate
    where link errors made it slower than asked for."""
    if result.bytes_written == 0:
        written = "0 B written (identical)"
    elif result.bytes_written < result.total_bytes:  # the rest was on the board already
        written = f"{size_text(result.bytes_written)} of {size_text(result.total_bytes)} written{sent_text(result)}"
    else:
        written = f"{size_text(result.bytes_written)} written{sent_text(result)}"
    slower = f" at {result.baud} baud (slower: link errors)" if result.baud_fell_back else ""
    return f"{written} in {result.seconds:.1f} s{slower}"


def port_list(found) -> None:
    """`invoke ports`: the ports that look like ESP32-S3 boards (board/ports.py Candidates)."""
    if not found:
        say("ports", "no ESP32-S3 boards found (looked for Espressif USB 303A:1001/303A:4001 "
                     "and CP210x/CH34x/FTDI USB-UART bridges)")
        return
    from mpforge.ui import tables

    block(tables.table((), [(c.device, f"{c.vid:04X}:{c.pid:04X}", c.kind, f"({c.description})") for c in found],
                       keep=(0, 1)))


def verify_report(report, *, as_json: bool) -> None:
    """verify's Report (board/verify.py): each board laid out for the terminal (ui/tables.py
    verify_board), or one JSON document; then a failure ends the task."""
    from mpforge.ui import tables

    boards, job = report.boards, report.job
    if not boards:  # a dry run
        return
    one = boards[0] if len(boards) == 1 else None
    if one is not None and one.error:
        raise report.failure
    if as_json:
        document(report.document())
    else:
        if one is not None:
            say("verify", f"{(one.job or job).label} on {one.port}")
        else:
            labels = ", ".join(dict.fromkeys((b.job or job).label for b in boards))
            say("verify", f"{len(boards)} boards against {labels}")
        for b in boards:
            if b.chosen:  # the profile came from the board (no --profile): say which and why
                say("verify", f"{b.port}: profile {b.chosen}")
            block(tables.verify_board(b.port, (b.job or job).profile.name, b.checks, b.error))
        if one is None:
            for b in boards:
                if not b.ok:
                    port_note(b.port, b.problem((b.job or job).profile if b.job or not b.error else None),
                              problem=True)
    if report.failure is not None:
        raise report.failure
    if as_json:
        return
    names = ", ".join(dict.fromkeys(b.job.profile.name for b in boards))
    if one is not None:
        say("verify", f"all {sum(1 for c in one.checks if c.passed)} checks passed: the board runs "
                      f"the firmware built for {names}")
    else:
        say("verify", f"all {len(boards)} boards run the firmware built for {names}")




def detect_report(boards, *, as_json: bool) -> None:
    """`invoke detect` (board/detect.py Boards): each board's facts and fits and the next step,
    or one JSON document for all boards; then a failed board ends the task in one line."""
    from mpforge.ui import detect

    if not boards:  # a dry run
        return
    if as_json:
        document({"ok": all(b.ok for b in boards), "boards": [b.as_dict() for b in boards]})
    else:
        for board in boards:
            if board.ok:
                block(detect.board_text(board))
        for broken in boards[0].broken_profiles:  # the same list for every board
            warn("detect", f"not held against the board(s), it does not load: {broken}")
    for board in boards:
        if not board.ok and board.running is not None and not as_json:  # what the firmware said
            port_note(board.port, f"firmware: {detect.firmware_text(board)}")  # before the reset
    end_if_failed("detect", boards)


def profile_written(path, board, *, as_json: bool) -> None:
    """`invoke detect --new-profile`: where the profile went and what to check in it."""
    from mpforge.model import profiles

    name = path.stem if path.parent == profiles.BOARDS_DIR else str(path)
    out = sys.stderr if as_json else sys.stdout
    print(f"detect: wrote {path} from the board on {board.port}", file=out, flush=True)
    print(f"detect: check the values marked 'inferred' in it, then `invoke config --profile {name}`",
          file=out, flush=True)
