#!/usr/bin/env python3
"""Deliberate bugs in mpforge's refusals, one at a time: does a test catch each?

For every mutant (a file, a snippet of it, the snippet with the check removed
or weakened, and the tests that pin that check) this script writes the broken
snippet into the file, runs those tests, and puts the file back, whatever
happens (Ctrl-C included). A mutant is *caught* when the tests fail.

    .venv/bin/python scripts/mutants.py            # every mutant, the tests each names
    .venv/bin/python scripts/mutants.py -k judge   # only mutants whose name contains "judge"
    .venv/bin/python scripts/mutants.py --suite    # the whole test suite for each (slow)
    .venv/bin/python scripts/mutants.py --list     # what would be tried

Exit status: 0 when every mutant was caught, 1 when one was missed, 2 when a
snippet is no longer in its file (the code moved: update the list), a mutant
does not compile, or the tests fail without any mutant.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFUSALS = "tests/test_refusals.py"


@dataclass(frozen=True)
class Mutant:
    name: str  # which check it breaks
    file: str  # relative to the project root
    original: str  # must occur exactly once in the file
    broken: str
    tests: tuple[str, ...] = (REFUSALS,)


def m(name: str, file: str, original: str, broken: str, *tests: str) -> Mutant:
    return Mutant(name, file, original, broken, tests or (REFUSALS,))


JUDGE = "mpforge/image/judge.py"
PARTS = "mpforge/image/partitions.py"
DEVICE = "mpforge/board/device.py"
POLICY = "mpforge/board/policy.py"
STORE = "mpforge/board/store.py"
CONFIG = "mpforge/config/check.py"
VERIFY = "mpforge/board/checks.py"

MUTANTS = [
    # ---- the judge: firmware vs profile
    m("judge: flasher_args chip", JUDGE, "    if fw.chip != profile.chip:", "    if False:"),
    m("judge: required images", JUDGE, "    if missing:\n", "    if False:\n"),
    m("judge: not an ESP image", JUDGE, "    except Exception as exc:  # esptool raises FatalError and struct errors alike\n"
      "        return [Problem(", "    except Exception as exc:  # esptool raises FatalError and struct errors alike\n"
      "        return [] and [Problem("),
    m("judge: bootloader at the chip's offset", JUDGE, "    if boot != chip_boot:", "    if False:"),
    m("judge: image chip id", JUDGE, "    if chip_id != CHIP_DEFS[chip].IMAGE_CHIP_ID:", "    if False:"),
    m("judge: image checksum", JUDGE, "    if not checksum_ok:", "    if False:"),
    m("judge: image SHA-256", JUDGE,
      '    if getattr(image, "append_digest", False) and image.stored_digest != image.calc_digest:', "    if False:"),
    m("judge: header flash size", JUDGE, "        if found != flash_size:", "        if False:"),
    m("judge: flasher_args flash size", JUDGE,
      "    if fw.flash_size not in UNSPECIFIED and fw.flash_size != profile.flash_size_label:", "    if False:"),
    m("judge: table MD5", JUDGE, "        if stored != computed:", "        if False:"),
    m("judge: table length", JUDGE, "    if len(data) < partitions.MAX_SIZE:", "    if False:"),
    m("judge: table layout", JUDGE, "    for text in partitions.problems(table, flash_size):", "    for text in []:"),
    m("judge: app partition present", JUDGE, '        return [Problem("app partition", f"no app partition{where}"',
      '        return [] and [Problem("app partition", f"no app partition{where}"'),
    m("judge: app fits its partition", JUDGE, "    if size > part.size:", "    if False:"),
    m("judge: app fits (off by a partition)", JUDGE, "    if size > part.size:", "    if size > 2 * part.size:"),
    m("judge: --force overrides only forcible", JUDGE, "    return [p for p in problems if not (force and p.forcible)]",
      "    return [p for p in problems if not force]"),
    m("judge: header flash size is forcible, chip is not", JUDGE,
      'f"{path} says {found} flash in its header, the profile needs {flash_size}", forcible=True))',
      'f"{path} says {found} flash in its header, the profile needs {flash_size}", forcible=False))'),
    # ---- the judge: board vs profile, firmware vs board
    m("judge: board chip", JUDGE, "    if board.chip != wanted_chip:", "    if False:"),
    m("judge: board flash size", JUDGE, "    if board.flash_size and board.flash_size < profile.flash_size:",
      "    if False:"),
    m("judge: board flash size (half is enough)", JUDGE,
      "    if board.flash_size and board.flash_size < profile.flash_size:",
      "    if board.flash_size and board.flash_size < profile.flash_size // 2:"),
    m("judge: board flash type", JUDGE, "    if board.flash_type != profile.flash_type:", "    if False:"),
    m("judge: board PSRAM size", JUDGE, "    elif profile.psram_size and board.psram_size < profile.psram_size:",
      "    elif False:"),
    m("judge: board PSRAM mode (quad vs octal)", JUDGE,
      "    elif profile.psram_size and board.psram_mode != profile.psram_mode:", "    elif False:"),
    m("judge: image past the end of the board's flash", JUDGE, "        if end > board.flash_size:",
      "        if False:"),
    m("judge: every app slot on the board's flash (OTA)", JUDGE, "        if slot.end > board.flash_size:",
      "        if False:",
      "tests/test_layout.py::test_flash_ota_layout_writes_blank_otadata_and_refuses_an_app_too_big"),
    # ---- the partition table rules the judge and config share
    m("partitions: overlap", PARTS, "        if b.offset < a.end:", "        if False:"),
    m("partitions: past the end of flash", PARTS, "        if p.end > flash_size:", "        if False:"),
    m("partitions: app alignment", PARTS, "        if p.type == APP and p.offset % 0x10000:", "        if False:"),
    # ---- each step asks the judge
    m("build: check_images asks the judge", "mpforge/build/make.py",
      "    judge.refuse(judge.firmware_problems(fw, job.profile)", "    judge.refuse([] and judge.firmware_problems(fw, job.profile)"),
    m("dist: _check asks the judge", "mpforge/dist/collect.py",
      "    judge.refuse(judge.firmware_problems(fw, job.profile)", "    judge.refuse([] and judge.firmware_problems(fw, job.profile)"),
    m("flash: check_firmware asks the judge", POLICY,
      "    judge.refuse(problems, suffix=", "    judge.refuse([] and problems, suffix="),
    m("flash: check_board asks the judge", POLICY,
      "    if not judge.blocking(problems, force):\n        return",
      "    if True:\n        return"),
    m("flash: placement checked on the board", DEVICE,
      '        judge.refuse(judge.placement_problems(fw, fp), prefix=f"{port}: ")', "        pass"),
    m("flash task: firmware checked before any board", "mpforge/board/fleet.py",
      "    policy.check_firmware(fw, job.profile, force)\n", "",
      "tests/test_flash.py::test_image_for_another_chip"),
    # ---- the saved flash history
    m("flash history: SHA-256 of each region", STORE,
      '            if hashlib.sha256(content).hexdigest() == entry["sha256"]:', "            if True:"),
    m("flash history: an interrupted flash is not trusted", STORE,
      '        if not data or not data.get("complete"):\n            return {}',
      "        if not data:\n            return {}"),
    # ---- config rows
    m("config: CPU MHz row", CONFIG, 'add(Row("CPU MHz", str(p.cpu_mhz), str(cpu), cpu == p.cpu_mhz))',
      'add(Row("CPU MHz", str(p.cpu_mhz), str(cpu), True))'),
    m("config: flash mode row", CONFIG, 'add(Row("flash mode", want_mode, got_mode, got_mode == want_mode))',
      'add(Row("flash mode", want_mode, got_mode, True))'),
    m("config: flash size row", CONFIG, '            values.get("ESPTOOLPY_FLASHSIZE") == p.flash_size_label))',
      "            True))"),
    m("config: octal flash row", CONFIG, '            flag("ESPTOOLPY_OCT_FLASH") == want_oct))', "            True))"),
    m("config: flash freq row", CONFIG, 'add(Row("flash freq", p.flash_freq, got_freq, got_freq == p.flash_freq))',
      'add(Row("flash freq", p.flash_freq, got_freq, True))'),
    m("config: PSRAM row", CONFIG, 'flag("SPIRAM") == want_psram))', "True))"),
    m("config: PSRAM mode row", CONFIG, 'add(Row("PSRAM mode", p.psram_mode, got_pmode, got_pmode == p.psram_mode))',
      'add(Row("PSRAM mode", p.psram_mode, got_pmode, True))'),
    m("config: PSRAM speed row", CONFIG,
      'add(Row("PSRAM speed", p.psram_speed, got_speed, got_speed == p.psram_speed))',
      'add(Row("PSRAM speed", p.psram_speed, got_speed, True))'),
    m("config: partition table row", CONFIG, 'got_csv or "not custom (IDF built-in)", got_csv == want_csv))',
      'got_csv or "not custom (IDF built-in)", True))'),
    m("config: partition table offset row", CONFIG, "            offset == TABLE_OFFSET))", "            True))"),
    m("config: board name row", CONFIG, 'add(Row("board name", p.board_name, got_name, name == p.board_name))',
      'add(Row("board name", p.board_name, got_name, True))'),
    m("config: app partition row", "mpforge/image/layout.py", "bool(smallest and smallest.size >= need)))",
      "bool(smallest)))"),
    m("config: filesystem row", "mpforge/image/layout.py",
      'rows.append(("filesystem", f">= {_mb(min_fs)}", f"{_mb(size)} ({where})", size >= min_fs))',
      'rows.append(("filesystem", f">= {_mb(min_fs)}", f"{_mb(size)} ({where})", True))'),
    m("config: variant defaults last row", CONFIG, "            bool(variant_entries) and tail == variant_entries))",
      "            bool(variant_entries)))"),
    m("config: IDF target row", CONFIG, "target, defaults.target == job.chip.idf_target))", "target, True))"),
    # ---- verify rows
    m("verify: CPU row", VERIFY, "        got == profile.cpu_mhz * 1_000_000,", "        True,"),
    m("verify: flash size row", VERIFY, "        got == profile.flash_size,", "        True,"),
    m("verify: PSRAM heap row (one byte short)", VERIFY, "    ok = got >= profile.min_psram_heap",
      "    ok = got >= profile.min_psram_heap - 1"),
    m("verify: filesystem row", VERIFY, "        got >= profile.min_fs_size,", "        True,"),
    m("verify: board name row", VERIFY, "        got == want, got, f\"board name is", "        True, got, f\"board name is"),
    m("verify: release row", VERIFY, '"no MicroPython version")\n    ok = got == want', '"no MicroPython version")\n    ok = True'),
    m("verify: build id row", VERIFY, '"no build id (sys.implementation._build)")\n    ok = got == want',
      '"no build id (sys.implementation._build)")\n    ok = True'),
    # ---- inputs
    m("releases_file: full 40-digit hashes", "mpforge/model/releases.py",
      '_HASH = re.compile(r"[0-9a-f]{40}")', '_HASH = re.compile(r"[0-9a-fA-F]{39,41}")'),
    m("profile: min_psram_heap within the PSRAM", "mpforge/model/profiles.py",
      "    if min_psram_heap > psram_size:", "    if min_psram_heap > psram_size + 1024 * 1024:"),
]


def run_tests(args: list[str]) -> tuple[bool, float]:
    """(passed, seconds) of pytest on these arguments, quietly, stopping at the first failure."""
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *args],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return result.returncode == 0, time.monotonic() - started


def try_mutant(mutant: Mutant, suite: bool) -> tuple[str, float]:
    path = ROOT / mutant.file
    text = path.read_text()
    count = text.count(mutant.original)
    if count != 1:
        return f"STALE (snippet found {count} times)", 0.0
    broken = text.replace(mutant.original, mutant.broken)
    try:
        compile(broken, str(path), "exec")
    except SyntaxError as exc:  # a mutant that does not compile is caught by anything: not a test
        return f"INVALID (line {exc.lineno}: {exc.msg})", 0.0
    try:
        path.write_text(broken)
        passed, seconds = run_tests([] if suite else list(mutant.tests))
    finally:
        path.write_text(text)  # the file as it was, whatever happened
    return ("MISSED" if passed else "caught"), seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", default="", help="only mutants whose name contains this text")
    parser.add_argument("--suite", action="store_true", help="run the whole suite for each mutant (slow)")
    parser.add_argument("--list", action="store_true", help="list the mutants and their tests, try none")
    args = parser.parse_args(argv)
    chosen = [mu for mu in MUTANTS if args.k.lower() in mu.name.lower()]
    if args.list:
        for mu in chosen:
            print(f"{mu.name:<55} {mu.file:<30} {' '.join(mu.tests)}")
        return 0
    files = sorted({t for mu in chosen for t in mu.tests})
    ok, seconds = run_tests([] if args.suite else files)
    if not ok:
        print(f"the tests fail without any mutant ({' '.join(files) or 'whole suite'}); fix that first")
        return 2
    print(f"baseline: {' '.join(files) if not args.suite else 'whole suite'} pass ({seconds:.0f} s)")
    results = []
    for mu in chosen:
        outcome, seconds = try_mutant(mu, args.suite)
        results.append(outcome)
        print(f"{outcome:<8} {mu.name:<55} {mu.file} ({seconds:.0f} s)", flush=True)
    caught = results.count("caught")
    print(f"{caught} of {len(results)} mutants caught")
    if any(r.startswith(("STALE", "INVALID")) for r in results):
        return 2
    return 0 if caught == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
