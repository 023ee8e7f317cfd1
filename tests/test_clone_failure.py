"""A clone that fails ends in one line with the next step: what to check and the one
command that retries, and nothing partial is left behind. The failing clone is a real
git clone from a path that does not exist."""

from __future__ import annotations

import pytest

from conftest import one_line_error
from mpforge.errors import UserError
from mpforge.source import gitsrc


def test_fetch_from_a_missing_repository_says_what_to_check_and_how_to_retry(invoke_run, tmp_path):
    missing = tmp_path / "no-such-micropython"
    result = invoke_run("fetch", env={"INVOKE_MPFORGE_MICROPYTHON_URL": str(missing)}, timeout=60)
    line = one_line_error(result)
    assert f"could not clone {missing}" in line
    assert "check the network" in line and "proxy" in line and "free space" in line
    assert line.endswith("`invoke fetch` retries")
    assert not list((tmp_path / "work").rglob("*.partial"))


def test_the_esp_idf_clone_names_install_prereqs_as_the_retry(tmp_path):
    with pytest.raises(UserError) as info:
        gitsrc.clone("install-prereqs", str(tmp_path / "no-such-esp-idf"), tmp_path / "esp-idf" / "v5.5.1",
                     "v5.5.1", None, dry=False)
    text = str(info.value)
    assert text.startswith("install-prereqs: could not clone") and "see git's output above" not in text
    assert "`invoke install-prereqs` retries" in text
    assert not (tmp_path / "esp-idf").exists()  # not even the folder made for it
