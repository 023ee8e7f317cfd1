"""`invoke boards` counts a release as proven for a profile only after a verify where
every check passed on every board: a run where one board matched and another did not
proves nothing. Real peers: MicroPython (WebAssembly under node) as the boards."""

from __future__ import annotations

import json

from harness.repl_peer import repl_peers  # noqa: F401


def _checked(invoke_run) -> dict[str, list[str]]:
    return {b["profile"]: list(b["checked_on"]) for b in json.loads(invoke_run("boards", "--json").stdout)}


def test_a_verify_that_passed_on_only_one_board_proves_nothing(invoke_run, repl_peers):
    good, stock = repl_peers("reference"), repl_peers("stock")
    result = invoke_run("verify", "--port", good.port, "--port", stock.port, timeout=90)
    assert result.returncode != 0, result.stdout
    assert all(releases == [] for releases in _checked(invoke_run).values())

    result = invoke_run("verify", "--port", good.port, timeout=60)
    assert result.returncode == 0, result.stderr
    assert _checked(invoke_run)["esp32s3-n16r8"] != []
