#!/usr/bin/env python3
"""Benchmark mpforge as a user runs it: whole commands, side by side with a baseline.

    python scripts/bench.py                  # everything, 5 rounds
    python scripts/bench.py --quick          # fewer cases and rounds (about a minute)
    python scripts/bench.py --only noop --repeat 9

Every figure is the wall time of a whole command (a subprocess, as typed),
timed in rounds: each round runs every command of a section once, one after
the other, so a busy machine slows all of them alike. Printed: min / median /
max over the rounds, and each round's ratio to the baseline; for the no-op
and verify also the median CPU time (user + system of the command and its
children), which a busy machine disturbs far less than wall time.

Sections (needs no network, no toolchain and no board):

noop    `invoke build-all` with nothing to do, for 1, 6 and 42 (profile,
        release) pairs, against `invoke --list` (interpreter + invoke start-up,
        the floor). The workdir is built once first against local git
        repositories and the simulated ESP-IDF of the tests (tests/harness/
        fake_repos.py, tests/fixtures/idf), with every supported release
        pinned to a fixture commit of its release line.
flash   `invoke flash` against the plain esptool line a user would type
        (`esptool --chip esp32s3 -b BAUD write-flash 0x0 bootloader.bin
        0x8000 partition-table.bin 0x10000 micropython.bin`) at 460800 and
        921600 baud, against the ROM-bootloader peer (tests/harness/
        esp_mock.py) with the UART wire modelled: first flash, identical
        re-flash, one 4 KB sector changed, and 1/2/4/8 boards.
verify  `invoke verify` against `mpremote connect PORT exec "print(1)"`, both
        against the same MicroPython REPL peer (tests/harness/repl_peer.py),
        with `invoke --list` beside them as the floor of any invoke task, and
        `mpremote connect PORT run scripts/board_probe.py`: the same probe by
        hand (what verify reads, without the checks).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

GIT_FILE_OK = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "protocol.file.allow", "GIT_CONFIG_VALUE_0": "always"}


# ---- timing -----------------------------------------------------------------------------

CPU: dict[str, list[float]] = {}  # command name -> CPU seconds (user + system) per round


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def user_env() -> dict:
    """The environment of the timed commands: this one without mpforge's settings, and with
    Python's bytecode cache on, as on a user's machine (a sandbox or CI may set
    PYTHONDONTWRITEBYTECODE, which makes every run compile mpforge again)."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("INVOKE_MPFORGE_") and k != "PYTHONDONTWRITEBYTECODE"}


def run(cmd: list[str], env: dict, check: bool = True, name: str = "") -> float:
    """Wall time of one whole command (its CPU time goes to CPU[name]); output is kept only to show a failure."""
    cpu = _children_cpu()
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    if name:
        CPU.setdefault(name, []).append(_children_cpu() - cpu)
    if check and result.returncode != 0:
        raise SystemExit(f"bench: `{' '.join(cmd)}` failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return seconds


def rounds(commands: dict, repeat: int) -> dict[str, list[float]]:
    """{name: [seconds per round]}: each round runs every command once, in turn."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, command in commands.items():
            times[name].append(command())
    return times


def table(title: str, times: dict[str, list[float]], baseline: str, extra: dict | None = None) -> None:
    """min / median / max per command, and its ratio to the baseline round by round."""
    print(f"\n{title}")
    width = max(len(name) for name in times)
    cpu = any(name in CPU for name in times)
    print(f"  {'command':<{width}}  {'min':>7} {'median':>7} {'max':>7}"
          + ("  cpu med" if cpu else "") + f"   ratio to {baseline!r}, per round")
    for name, values in times.items():
        ratios = " ".join(f"{v / b:.2f}" for v, b in zip(values, times[baseline]))
        note = f"  {extra[name]}" if extra and name in extra else ""
        if cpu:
            note = f"  (cpu ratio {statistics.median(CPU[name]) / statistics.median(CPU[baseline]):.2f})" + note
            ratios = f"{statistics.median(CPU[name]):>6.3f}s   " + ratios
        print(f"  {name:<{width}}  {min(values):>6.3f}s {statistics.median(values):>6.3f}s "
              f"{max(values):>6.3f}s   {ratios}{note}")


def invoke_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "invoke", *args]


# ---- no-op build-all ----------------------------------------------------------------------

def noop_sources(tmp: Path) -> dict:
    """Fixture repositories with every supported release tagged and pinned; the env to use them."""
    from harness import fake_repos
    from mpforge.model import releases

    sources = fake_repos.make_sources(tmp / "sources")
    by_line = {line: tag for tag, (line, _idf) in fake_repos.MICROPYTHON_TAGS.items()}
    sources.releases_file.write_text("")
    for release in releases.RELEASES.values():  # each pinned to its line's fixture commit
        if release.line in by_line and release.version not in fake_repos.MICROPYTHON_TAGS:
            fake_repos.git(sources.micropython_repo, "tag", "-a", release.version, "-m", release.version,
                           f"{by_line[release.line]}^{{commit}}")
        fake_repos.add_release(sources, release.version, release.line, release.idf)
    env = user_env()
    env.update(sources.env())
    env.update(GIT_FILE_OK)
    env.update({"INVOKE_MPFORGE_WORKDIR": str(tmp / "work"), "INVOKE_MPFORGE_IDF_TOOLS_PATH": str(tmp / "espressif")})
    return env


def pairs_args(profiles: list[str], versions: list[str]) -> list[str]:
    return [a for p in profiles for a in ("--profile", p)] + [a for v in versions for a in ("--micropython", v)]


def bench_noop(tmp: Path, repeat: int, quick: bool) -> None:
    from mpforge.model import releases

    env = noop_sources(tmp)
    profiles = sorted(p.stem for p in (ROOT / "boards").glob("*.toml"))
    versions = list(releases.RELEASES)
    sizes = {"1 pair": (profiles[:1], versions[-1:]), "6 pairs": (profiles, versions[-1:])}
    if not quick:
        sizes[f"{len(profiles) * len(versions)} pairs"] = (profiles, versions)
    widest = max(sizes.values(), key=lambda pv: len(pv[0]) * len(pv[1]))
    print(f"\nno-op: building {len(widest[0]) * len(widest[1])} pairs once with the simulated ESP-IDF ...",
          flush=True)
    started = time.perf_counter()
    run(invoke_cmd("build-all", *pairs_args(*widest)), env)
    print(f"  first build-all took {time.perf_counter() - started:.1f} s (simulated toolchain)")
    run(invoke_cmd("build-all", *pairs_args(*widest)), env)  # warm: the OS file cache, .pyc files
    commands = {"invoke --list": lambda: run(invoke_cmd("--list"), env, name="invoke --list")}
    for name, (p, v) in sizes.items():
        label = f"build-all, {name}"
        commands[label] = (lambda args, label: lambda: run(invoke_cmd("build-all", *args), env, name=label))(
            pairs_args(p, v), label)
    times = rounds(commands, repeat)
    table(f"no-op `invoke build-all` ({repeat} rounds; nothing to do)", times, "invoke --list")
    floor, cpu_floor = statistics.median(times["invoke --list"]), statistics.median(CPU["invoke --list"])
    for name in commands:
        if name.startswith("build-all"):
            print(f"  {name}: median {statistics.median(times[name]) - floor:+.3f} s wall, "
                  f"{statistics.median(CPU[name]) - cpu_floor:+.3f} s cpu over `invoke --list`")


# ---- flash ----------------------------------------------------------------------------------

BAUDS = (460800, 921600)
NOTE_WIRE = ("The ROM peer models the host-to-board wire only (10 bits a byte at the current baud rate), "
             "not the chip's erase, write or MD5 time, nor the board-to-host direction;\n"
             "  socket:// adds a fixed delay when a connection closes that a real serial port does not.")


def firmware_like(size: int, seed: int) -> bytes:
    """Bytes that compress like a MicroPython app (about 66% with zlib -9, as esptool compresses):
    bytes from a skewed distribution (a few values common, as in machine code) in runs of
    8-64, of which about a fifth repeat a run from the last 32 KB (strings, tables)."""
    import random

    rng = random.Random(seed)
    symbols = list(range(256))
    rng.shuffle(symbols)
    fresh = bytes(rng.choices(symbols, [0.97 ** i for i in range(256)], k=size))
    out, pos = bytearray(), 0
    while len(out) < size:
        n = rng.randrange(8, 64)
        if len(out) > 4096 and rng.random() < 0.22:
            start = len(out) - rng.randrange(n, min(len(out), 32768))
            out += out[start:start + n]
        else:
            out += fresh[pos:pos + n]
            pos += n
    return bytes(out[:size])


class Board:
    """One ROM peer with the wire modelled, in its own process (a real board has its own CPU).
    Each is a new chip (its own MAC): mpforge's flash history never knows it."""

    made = 0

    def __init__(self):
        Board.made += 1
        index = Board.made
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "harness" / "esp_mock.py"), "--wire",
                                      "--mac", f"24:0a:c4:00:{index >> 8:02x}:{index & 0xFF:02x}"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()

    def stats(self) -> dict:
        import json

        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(10)


def bench_flash(tmp: Path, repeat: int, quick: bool, app_size: int) -> None:
    import zlib

    from harness.images import change_one_sector, make_app_image, write_fake_build

    build = tmp / "build"
    app = make_app_image(app_size, filler=firmware_like)
    images = write_fake_build(build, app=app)
    changed = change_one_sector(app, offset=(len(app) // 2) & ~0xFFF)
    parts = {"bootloader.bin": images["bootloader"], "partition-table.bin": images["partition-table"],
             "micropython.bin": app}
    total = sum(len(b) for b in parts.values())
    packed = sum(len(zlib.compress(b, 9)) for b in parts.values())
    print(f"\nflash: bootloader + partition table + app = {total} bytes; the app ({len(app)} bytes) is "
          f"{firmware_like.__doc__.split(':')[0].lower()}: zlib -9 (esptool's compression) gives "
          f"{len(zlib.compress(app, 9)) / len(app):.0%} of it; all three compress to {packed} bytes")
    print(f"  {NOTE_WIRE}")
    cfg = tmp / "bench.yaml"
    cfg.write_text("mpforge:\n  before: no-reset\n  after: hard-reset\n")
    env = user_env()
    env["INVOKE_MPFORGE_WORKDIR"] = str(tmp / "work")
    files = [str(build / "bootloader" / "bootloader.bin"), str(build / "partition_table" / "partition-table.bin"),
             str(build / "micropython.bin")]

    def esptool(url: str, baud: int) -> list[str]:
        return [sys.executable, "-m", "esptool", "--chip", "esp32s3", "-p", url, "-b", str(baud),
                "--before", "no-reset", "write-flash", "0x0", files[0], "0x8000", files[1], "0x10000", files[2]]

    def mpforge(urls: list[str], baud: int) -> list[str]:
        return invoke_cmd("-f", str(cfg), "flash", *[a for u in urls for a in ("--port", u)],
                          "--firmware", str(build), "--baud", str(baud))

    print("  commands: " + " ".join(Path(a).name if "/" in a else a for a in mpforge(["URL"], 921600)[1:]))
    print("            esptool " + " ".join(Path(a).name if "/" in a else a for a in esptool("URL", 921600)[3:]))
    tools = {"invoke flash": lambda urls: mpforge(urls, 921600)}
    for baud in BAUDS:
        tools[f"esptool -b {baud}"] = (lambda b: lambda urls: esptool(urls[0], b))(baud)

    def timed(name: str, cmds: list[list[str]], boards: list[Board]) -> tuple[float, int, int]:
        """Run the commands at once (one per board for esptool); (seconds, wire bytes, flash bytes)."""
        before = [b.stats() for b in boards]
        started = time.perf_counter()
        procs = [subprocess.Popen(c, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, stdin=subprocess.DEVNULL) for c in cmds]
        outputs = [p.communicate()[0] for p in procs]
        seconds = time.perf_counter() - started
        for p, out in zip(procs, outputs):
            if p.returncode != 0:
                raise SystemExit(f"bench: {name} failed:\n{out[-3000:]}")
        after = [b.stats() for b in boards]
        return (seconds, sum(a["received"] - b["received"] for a, b in zip(after, before)),
                sum(a["written"] - b["written"] for a, b in zip(after, before)))

    cases = [("first flash", None), ("identical re-flash", app), ("one 4 KB sector changed", changed)]
    results: dict[str, dict[str, list]] = {}
    for _ in range(repeat):
        for case, image in cases:
            for name, command in tools.items():
                board = Board()
                try:
                    if image is not None:  # the board holds the firmware: flashed first by the same tool, untimed
                        write_fake_build(build, app=app)
                        timed("setup", [command([board.url])], [board])
                        write_fake_build(build, app=image)
                    results.setdefault(case, {}).setdefault(name, []).append(
                        timed(name, [command([board.url])], [board]))
                finally:
                    board.close()
                    write_fake_build(build, app=app)
        for count in ((1, 2) if quick else (1, 2, 4, 8)):
            boards = [Board() for _ in range(count)]
            try:
                urls = [b.url for b in boards]
                case = f"first flash, {count} board{'s' if count > 1 else ''}"
                results.setdefault(case, {}).setdefault("invoke flash", []).append(
                    timed("invoke flash", [mpforge(urls, 921600)], boards))
            finally:
                for b in boards:
                    b.close()
            boards = [Board() for _ in range(count)]
            try:
                results[case].setdefault("esptool -b 921600, one each at once", []).append(
                    timed("esptool", [esptool(b.url, 921600) for b in boards], boards))
            finally:
                for b in boards:
                    b.close()
    for case, by_tool in results.items():
        times = {name: [r[0] for r in runs] for name, runs in by_tool.items()}
        count = int(case.split(", ")[1].split()[0]) if "board" in case else 1
        limit = packed * 10 / 921600  # per board: boards in parallel each have their own wire
        extra = {name: f"wire {runs[-1][1] / 1024:.0f} KB, flash {runs[-1][2] / 1024:.0f} KB"
                 for name, runs in by_tool.items()}
        baseline = next(n for n in times if n.startswith("esptool -b 921600"))
        table(f"{case} ({repeat} rounds); wire limit at 921600 for the compressed images: {limit:.2f} s"
              + (f", at 460800: {limit * 2:.2f} s" if count == 1 else ""), times, baseline, extra)


# ---- verify -------------------------------------------------------------------------------

def bench_verify(repeat: int) -> None:
    from harness.repl_peer import ReplPeer, node_skip_reason

    reason = node_skip_reason()
    if reason:
        print(f"\nverify: skipped ({reason})")
        return
    env = user_env()
    print("\nverify: the REPL peer is MicroPython's WebAssembly port under node (tests/harness/repl_peer.py);"
          "\n  like an ESP32-S3 it takes raw-paste mode (the peer's server speaks its flow control), so code"
          "\n  goes out without mpremote's 10 ms pauses. socket:// adds a fixed close delay a real port does not."
          "\n  `invoke --list` is the floor of any invoke task (interpreter, invoke, tasks.py).")
    for transport in ("pty", "tcp"):
        peer = ReplPeer("v1.29.0", transport)  # a board running the default release
        try:
            base, ours, floor = 'mpremote connect PORT exec "print(1)"', "invoke verify --port PORT", "invoke --list"
            same = "mpremote connect PORT run scripts/board_probe.py"
            for name in (base, same, ours, floor):
                CPU.pop(name, None)
            commands = {
                base: lambda: run([sys.executable, "-m", "mpremote", "connect", peer.port, "exec", "print(1)"],
                                  env, name=base),
                same: lambda: run([sys.executable, "-m", "mpremote", "connect", peer.port, "run",
                                   "scripts/board_probe.py"], env, name=same),
                ours: lambda: run(invoke_cmd("verify", "--port", peer.port), env, name=ours),
                floor: lambda: run(invoke_cmd("--list"), env, name=floor),
            }
            for command in commands.values():  # warm: the OS file cache, .pyc files
                command()
            for name in commands:
                CPU.pop(name, None)
            times = rounds(commands, repeat)
        finally:
            peer.close()
        table(f"verify over {'a PTY' if transport == 'pty' else 'socket://'} ({repeat} rounds)", times, base)
        above = [v - f for v, f in zip(times[ours], times[floor])]
        print(f"  verify above the invoke floor, median {statistics.median(above):.3f}s; "
              f"1.3x of mpremote's median is {1.3 * statistics.median(times[base]):.3f}s, "
              f"the floor alone {statistics.median(times[floor]):.3f}s")


def bench_detect(tmp: Path, repeat: int) -> None:
    """`invoke detect` against what a user would otherwise run to learn the same facts:
    esptool's flash-id (chip, features with the embedded PSRAM, MAC, flash id and size), as
    typed (it uploads the flasher stub) and in the ROM alone (--no-stub, as detect reads)."""
    env = user_env()
    env["INVOKE_MPFORGE_WORKDIR"] = str(tmp / "work")
    tmp.mkdir(parents=True, exist_ok=True)
    cfg = tmp / "bench.yaml"
    cfg.write_text("mpforge:\n  before: no-reset\n")
    board = Board()
    try:
        base, ours = "esptool flash-id", "invoke detect --port PORT"
        commands = {
            base: lambda: run([sys.executable, "-m", "esptool", "-p", board.url, "--before", "no-reset",
                               "flash-id"], env, name=base),
            "esptool --no-stub flash-id": lambda: run([sys.executable, "-m", "esptool", "-p", board.url, "--before",
                                                      "no-reset", "--no-stub", "flash-id"], env,
                                                      name="esptool --no-stub flash-id"),
            ours: lambda: run(invoke_cmd("-f", str(cfg), "detect", "--port", board.url), env, name=ours),
        }
        for command in commands.values():  # warm: the OS file cache, .pyc files
            command()
        times = rounds(commands, repeat)
    finally:
        board.close()
    print(f"\ndetect: the ROM peer with the wire modelled, over socket:// ({NOTE_WIRE.split(';')[0]})")
    table(f"detect ({repeat} rounds)", times, base)


# ---- main ---------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a subset: fewer pairs, boards and rounds, a smaller app")
    parser.add_argument("--repeat", type=int, help="rounds per section (default 5, --quick 3)")
    parser.add_argument("--app-size", type=int, default=1_600_000,
                        help="bytes of the test app (default 1.6 MB, a MicroPython ESP32-S3 app; --quick 400 KB)")
    parser.add_argument("--only", default="noop,flash,verify,detect",
                        help="comma-separated sections to run: noop, flash, verify, detect")
    args = parser.parse_args()
    repeat = args.repeat or (3 if args.quick else 5)
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(sections) - {"noop", "flash", "verify", "detect"}
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}; use noop, flash, verify, detect")
    load = os.getloadavg()
    print(f"mpforge benchmark: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
          f"Python {sys.version.split()[0]}; commands run with Python's bytecode cache on, as on a user's machine")
    with tempfile.TemporaryDirectory(prefix="mpforge-bench-") as tmp_text:
        tmp = Path(tmp_text)
        if "noop" in sections:
            bench_noop(tmp / "noop", repeat, args.quick)
        if "flash" in sections:
            bench_flash(tmp / "flash", repeat, args.quick,
                        args.app_size if args.app_size != 1_600_000 or not args.quick else 400_000)
        if "verify" in sections:
            bench_verify(repeat)
        if "detect" in sections:
            bench_detect(tmp / "detect", repeat)
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
