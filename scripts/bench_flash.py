#!/usr/bin/env python3
"""Benchmark `flash` against the ROM peer (esp32-mock-bootloader): bytes written and wall time.

    python scripts/bench_flash.py [--app-size 1600000] [--no-wire]

Each simulated board runs in its own process (a real board has its own CPU),
serving socket:// and, by default, taking as long as a UART at the current
baud rate would (--no-wire: as fast as the mock goes). mpforge runs in this
process through the same code as `invoke flash`.

Figures: a first flash of the app, a re-flash of the same image, a re-flash
after a one-sector change, and two boards flashed in parallel against one.
Targets: identical re-flash writes 0 bytes in under a fifth of the first
flash's time; the one-sector change writes at most 8 KB; two boards take
under 1.5x the time of one. This is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from harness.images import change_one_sector, write_fake_build  # noqa: E402
from mpforge.board import device, transport  # noqa: E402
from mpforge.image import firmware
from mpforge.board import fleet
from mpforge.model import profiles


class Boards:
    """Mock boards, one process each."""

    def __init__(self, count: int, wire: bool):
        cmd = [sys.executable, str(ROOT / "tests" / "harness" / "esp_mock.py")]
        self.procs = [subprocess.Popen(cmd + ["--mac", f"24:0a:c4:00:00:{i:02x}"]
                                       + (["--wire"] if wire else []),
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                      for i in range(count)]
        self.urls = [p.stdout.readline().strip() for p in self.procs]

    def close(self):
        for proc in self.procs:
            proc.stdin.close()
            proc.wait(10)


def flash_all(urls, fw, profile, link, state_dir):
    """Flash every board through fleet.run (parallel for several), quietly; (results, seconds)."""
    started = time.monotonic()
    with contextlib.redirect_stdout(io.StringIO()):
        results = fleet.run("flash", list(urls), lambda port, reporter: device.flash(
            port, fw, profile, link, state_dir, reporter), workdir=state_dir.parent)
    seconds = time.monotonic() - started
    for r in results:
        if not r.ok:
            raise SystemExit(f"flash failed on {r.port}: {r.error}")
    return results, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app-size", type=int, default=1_600_000)
    parser.add_argument("--baud", type=int, default=921600)
    parser.add_argument("--no-wire", action="store_true", help="do not simulate UART speed")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-flash-"))
    build = tmp / "build"
    images = write_fake_build(build, app_size=args.app_size)
    fw = firmware.load(build)
    profile = profiles.load("esp32s3-n16r8")
    link = transport.Link(before="no-reset", after="hard-reset", baud=args.baud)
    boards = Boards(3, wire=not args.no_wire)
    rows = []
    try:
        one = boards.urls[0]
        (r,), first = flash_all([one], fw, profile, link, tmp / "state")
        rows.append(("first flash", r.bytes_written, first))
        (r,), same = flash_all([one], fw, profile, link, tmp / "state")
        rows.append(("re-flash, same image", r.bytes_written, same))
        write_fake_build(build, app=change_one_sector(images["app"]))
        (r,), sector = flash_all([one], fw, profile, link, tmp / "state")
        rows.append(("re-flash, one sector changed", r.bytes_written, sector))
        write_fake_build(build, app=images["app"])
        results, both = flash_all(boards.urls[1:], fw, profile, link, tmp / "state")
        rows.append(("first flash, two boards in parallel", sum(r.bytes_written for r in results),
                     both))
    finally:
        boards.close()

    mode = "unthrottled mock" if args.no_wire else f"UART wire speed simulated at {args.baud} baud"
    print(f"flash benchmark: app {args.app_size} bytes, total {sum(len(images[k]) for k in ('bootloader', 'partition-table', 'app'))} bytes; {mode}")
    print(f"{'case':38} {'bytes written':>14} {'wall time':>10}")
    for name, written, seconds in rows:
        print(f"{name:38} {written:>14} {seconds:>9.2f}s")
    checks = [
        ("identical re-flash writes 0 bytes", rows[1][1] == 0),
        (f"identical re-flash < 1/5 of first ({same / first:.2f})", same < first / 5),
        (f"one-sector change writes <= 8 KB ({rows[2][1]} B)", rows[2][1] <= 8192),
        (f"two boards < 1.5x one ({both / first:.2f}x)", both < 1.5 * first),
    ]
    for name, ok in checks:
        print(f"  {'met    ' if ok else 'MISSED '} {name}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
