"""What tasks print: one line per step, progress on long work."""

from __future__ import annotations

import sys


def size_text(n: int | None, space: bool = True) -> str:
    """Bytes as short text: '16 MB', '13.5 MB', '320 KB', '12 B' ('?' for None).
    space=False writes '16MB', as Kconfig and esptool spell flash sizes."""
    if n is None:
        return "?"
    sep = " " if space else ""
    mb = 1024 * 1024
    if n % mb == 0 or n >= mb:
        return f"{n // mb}{sep}MB" if n % mb == 0 else f"{n / mb:.1f}{sep}MB"
    if n >= 1024:
        return f"{n / 1024:.0f}{sep}KB"
    return f"{n}{sep}B"


def say(step: str, message: str) -> None:
    """The one line a step prints, e.g. 'fetch: micropython v1.28.0 at e0e9fbb, up to date'."""
    print(f"{step}: {message}", flush=True)


def would(step: str, command: str) -> None:
    """Dry run: what would be run or changed."""
    print(f"{step}: would run: {command}", flush=True)


def warn(step: str, message: str) -> None:
    print(f"{step}: warning: {message}", file=sys.stderr, flush=True)


class Progress:
    """A single progress line, redrawn on a terminal, every 10% otherwise."""

    def __init__(self, step: str, stream=None):
        self.step = step
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.last_decile = -1
        self.drawn = False

    def update(self, done: int, total: int, what: str = "") -> None:
        if total <= 0:
            return
        pct = min(100, done * 100 // total)
        line = f"{self.step}: [{done}/{total}] {pct:3d}% {what}"
        if self.tty:
            self.stream.write("\r" + line[:120].ljust(120))
            self.stream.flush()
            self.drawn = True
        elif pct // 10 != self.last_decile:
            self.last_decile = pct // 10
            self.stream.write(line[:120] + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


def config_table(report) -> None:
    """config's Report as a table: each setting, what the profile wants, what the resolved sdkconfig has."""
    print(f"config: {report.profile} @ micropython {report.release}, ESP-IDF {report.idf}, "
          f"{report.board} variant {report.variant}")
    print(f"  defaults: {' '.join(report.defaults)}")
    width = max(len(r.setting) for r in report.rows)
    want_w = min(40, max(len(r.want) for r in report.rows))
    for r in report.rows:
        print(f"  {'ok ' if r.ok else 'BAD'} {r.setting:<{width}}  want {r.want:<{want_w}}  got {r.got}")
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
