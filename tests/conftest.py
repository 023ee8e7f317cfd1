"""Shared test helpers: run the real invoke tasks in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

# The release the tests build, flash and check, named here instead of taken from
# mpforge's default (invoke.yaml), so a new default release does not change what they test.
RELEASE = "v1.28.0"


def drop_file_override() -> None:
    """In a child (preexec_fn): give up root's right to open any file (CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH), so root sees permission errors as a user does."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.fixture
def invoke_run(tmp_path):
    """Run `invoke ARGS` in the project root with a private workdir.

    Returns a function: invoke_run(*args, env={...}, timeout=...) ->
    CompletedProcess with .stdout/.stderr text.
    """
    base_env = dict(os.environ)
    for key in list(base_env):
        if key.startswith("INVOKE_MPFORGE_"):
            del base_env[key]
    base_env["INVOKE_MPFORGE_WORKDIR"] = str(tmp_path / "work")
    base_env["INVOKE_MPFORGE_IDF_TOOLS_PATH"] = str(tmp_path / "espressif")
    base_env["INVOKE_MPFORGE_MICROPYTHON_VERSION"] = RELEASE
    # Local test repositories are served over file://, which git refuses by default.
    base_env.update({"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "protocol.file.allow",
                     "GIT_CONFIG_VALUE_0": "always"})

    def run(*args, env=None, timeout=300, input=None, preexec_fn=None):
        full_env = dict(base_env)
        full_env.update(env or {})
        return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=ROOT, env=full_env,
                              text=True, capture_output=True, timeout=timeout, input=input,
                              preexec_fn=preexec_fn)

    run.env = base_env
    return run


def one_line_error(result) -> str:
    """The error line a failed task printed; asserts there is exactly one and no traceback."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [l for l in result.stderr.strip().splitlines() if l.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="session")
def sources(tmp_path_factory):
    """Real git repositories (MicroPython, simulated ESP-IDF) made once per session."""
    from harness.fake_repos import make_sources

    return make_sources(tmp_path_factory.mktemp("sources"))


@pytest.fixture
def mp(invoke_run, sources):
    """invoke_run pointed at the session's repositories."""

    def run(*args, env=None, **kw):
        return invoke_run(*args, env={**sources.env(), **(env or {})}, **kw)

    run.env = {**invoke_run.env, **sources.env()}
    return run


@pytest.fixture(autouse=True)
def _events_printed():
    """Library calls made in a test say what they say on stdout, as they do under a task
    (mpforge.cli.task renders mpforge.events through mpforge.ui)."""
    from mpforge import events, ui

    printer = ui.EventPrinter()
    with events.listening(printer):
        yield
    printer.close()
