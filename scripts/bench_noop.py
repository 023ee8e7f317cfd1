#!/usr/bin/env python3
"""Benchmark: the cost of `invoke build-all` when nothing changed.

Builds a completed workdir once (against local git repositories and the
simulated ESP-IDF from tests/, so it needs no network or toolchain), then
times N no-op re-runs and prints the figures. Target: under 2 s each.

    python scripts/bench_noop.py [--runs 5] [--workdir DIR]

With --workdir pointing at a real completed workdir (and the settings you
build with in the environment), it times your own no-op instead.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def invoke(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workdir", help="time an existing, completed workdir instead")
    args = parser.parse_args()
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="mpforge-bench-") as tmp:
        if args.workdir:
            env["INVOKE_MPFORGE_WORKDIR"] = args.workdir
        else:
            from harness.fake_repos import make_sources

            sources = make_sources(Path(tmp) / "sources")
            env.update(sources.env())
            env.update({"INVOKE_MPFORGE_WORKDIR": f"{tmp}/work", "INVOKE_MPFORGE_IDF_TOOLS_PATH": f"{tmp}/espressif",
                        "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "protocol.file.allow",
                        "GIT_CONFIG_VALUE_0": "always"})
            t0 = time.perf_counter()
            first = invoke(env, "build-all")
            if first.returncode != 0:
                print(first.stdout + first.stderr)
                return 1
            print(f"first build-all (simulated toolchain): {time.perf_counter() - t0:.2f} s")
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            result = invoke(env, "build-all")
            times.append(time.perf_counter() - t0)
            if result.returncode != 0 or "building" in result.stdout:
                print("a no-op run did work or failed:\n" + result.stdout + result.stderr)
                return 1
        print(f"no-op build-all, {args.runs} runs: median {statistics.median(times):.3f} s, "
              f"max {max(times):.3f} s (target < 2 s) on {os.cpu_count()} cores")
        print("  (of which interpreter + invoke start-up:", end=" ")
        t0 = time.perf_counter()
        invoke(env, "--list")
        print(f"{time.perf_counter() - t0:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
