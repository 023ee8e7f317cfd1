"""Settings are checked in one place (settings.check) whatever their source;
git's own reason reaches the one error line."""

from __future__ import annotations

import subprocess

import pytest
from invoke.vendor import yaml  # the YAML reader invoke itself reads invoke.yaml with

from conftest import ROOT
from mpforge import shell
from mpforge.errors import UserError
from mpforge.model import settings
from mpforge.source import gitsrc


def _dotted(node, prefix=""):
    for key, value in node.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _dotted(value, name + ".")
        else:
            yield name


def test_every_default_in_invoke_yaml_is_a_known_setting_and_valid():
    defaults = yaml.safe_load((ROOT / "invoke.yaml").read_text())["mpforge"]
    assert set(_dotted(defaults)) == set(settings.KINDS)
    settings.check(defaults)


@pytest.mark.parametrize("cfg,words", [
    ({"jobz": 2}, "mpforge.jobz is unknown; did you mean mpforge.jobs?"),
    ({"idf": {"tools-path": "x"}}, "did you mean mpforge.idf.tools_path?"),
    ({"verify": 5}, "mpforge.verify must be a table"),
    ({"verify": {"timeout": 0}}, "mpforge.verify.timeout is 0"),
    ({"verify": {"timeout": "nan"}}, "mpforge.verify.timeout is 'nan'"),
    ({"baud": True}, "mpforge.baud is True"),
    ({"jobs": 1.5}, "mpforge.jobs is 1.5"),
    ({"port": "/dev/tty\nUSB0"}, "mpforge.port is"),
    ({"idf": {"version": "5.x"}}, "mpforge.idf.version is '5.x'"),
    ({"micropython": {"url": "--upload-pack=touch /tmp/x"}}, "not a git URL (not starting with '-')"),
    ({"idf": {"url": ""}}, "mpforge.idf.url is ''"),
])
def test_bad_settings_are_one_line(cfg, words):
    with pytest.raises(UserError) as caught:
        settings.from_config({"mpforge": cfg})
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_good_values_of_every_kind_pass():
    settings.check({"baud": "115200", "jobs": 0, "verify": {"timeout": 2.5}, "idf": {"version": "", "dir": None},
                    "micropython": {"version": "1.28"}, "os_packages": False})


def test_git_clone_failure_shows_gits_reason(tmp_path):
    """A clone from a folder that is no repository: git's 'fatal:' cause, not the echo after it."""
    with pytest.raises(UserError) as caught:
        gitsrc.clone("fetch", str(tmp_path / "nowhere"), tmp_path / "dest", "v1.0", None, dry=False)
    message = str(caught.value)
    assert "does not exist" in message or "not appear to be a git repository" in message, message
    assert "\n" not in message


def test_failure_reason_keeps_the_cause_not_the_echo():
    output = ("Cloning into 'x'...\nerror: RPC failed; curl 56 Recv failure: Connection reset by peer\n"
              "fatal: write error: No space left on device\nfatal: early EOF\n"
              "fatal: the remote end hung up unexpectedly\nfatal: index-pack failed\n")
    reason = shell.failure_reason(output)
    assert "No space left on device" in reason and "Connection reset" in reason
    assert "early EOF" not in reason and "hung up" not in reason
    assert shell.failure_reason("just one line\n") == "just one line"
