"""`invoke boards` and `invoke releases`, text and --json, through the real tasks;
the boards' "checked on" column comes from a real verify against a REPL peer."""

from __future__ import annotations

import json

from harness.repl_peer import repl_peers  # noqa: F401
from mpforge.model import profiles, releases


def test_releases_lists_the_table(invoke_run):
    doc = json.loads(invoke_run("releases", "--json").stdout)
    assert [r["micropython"] for r in doc] == list(releases.RELEASES)
    latest = doc[-1]  # v1.29.0 pins no commit: the first fetch records it (test_release_v129.py)
    assert latest == {"micropython": "v1.29.0", "commit": "", "commit_source": "unpinned", "idf": "v5.5.2",
                      "idf_min": "v5.3.0", "overlay": "overlays/v1.29", "default": False}
    assert doc[-2] == {"micropython": "v1.28.0", "commit": releases.RELEASES["v1.28.0"].commit, "idf": "v5.5.1",
                       "commit_source": "pinned", "idf_min": "v5.3.0", "overlay": "overlays/v1.26",
                       "default": True}  # the tests' settings choose v1.28.0 (conftest.RELEASE)
    assert sum(r["default"] for r in doc) == 1
    text = invoke_run("releases").stdout
    lines = text.splitlines()
    assert lines[0].split() == ["MICROPYTHON", "COMMIT", "ESP-IDF", "OVERLAY", "DEFAULT"]
    row = next(line for line in lines if line.startswith("v1.24.1"))
    assert row.split()[:5] == ["v1.24.1", releases.RELEASES["v1.24.1"].commit[:12], "v5.2.2", "(>=", "v5.0.4)"]
    assert lines[-2].split()[-1] == "yes" and lines[-1].split()[:2] == ["v1.29.0", "unpinned"]


def test_releases_include_the_releases_file(invoke_run, sources):
    doc = json.loads(invoke_run("releases", "--json", env=sources.env()).stdout)
    assert {r["micropython"]: r["commit"] for r in doc}["v1.28.0"] == sources.commits["v1.28.0"]


def test_boards_lists_every_profile_and_where_verify_proved_it(invoke_run, repl_peers):
    doc = json.loads(invoke_run("boards", "--json").stdout)
    assert [b["profile"] for b in doc] == profiles.available()
    n8r2 = next(b for b in doc if b["profile"] == "esp32s3-n8r2")
    assert (n8r2["flash"], n8r2["psram"], n8r2["variant"]) == ("8 MB quad", "2 MB quad", "FLASH_8M_SPIRAM_QUAD")
    n4 = next(b for b in doc if b["profile"] == "esp32s3-n4")
    assert n4["psram"] == "none" and all(b["checked_on"] == {} for b in doc)

    peer = repl_peers("reference")
    assert invoke_run("verify", "--port", peer.port, timeout=60).returncode == 0
    doc = json.loads(invoke_run("boards", "--json").stdout)
    checked = {b["profile"]: list(b["checked_on"]) for b in doc}
    assert checked["esp32s3-n16r8"] == ["v1.28.0"] and checked["esp32s3-n8r8"] == []
    wide = invoke_run("boards", env={"COLUMNS": "120"}).stdout  # at 80 columns the cells wrap (test_ui_width)
    row = next(line for line in wide.splitlines() if line.startswith("esp32s3-n16r8 "))
    assert row.split()[1:] == ["(default)", "16", "MB", "quad", "8", "MB", "octal", "FLASH_16M_SPIRAM_OCT", "v1.28.0"]


def test_a_failed_verify_is_not_a_check(invoke_run, repl_peers):
    peer = repl_peers("stock")
    assert invoke_run("verify", "--port", peer.port, timeout=60).returncode != 0
    doc = json.loads(invoke_run("boards", "--json").stdout)
    assert all(b["checked_on"] == {} for b in doc)
