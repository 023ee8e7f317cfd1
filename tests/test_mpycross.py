"""mpy-cross with real make and the host C compiler on a small fixture tree."""

import os
import shutil

import pytest

from harness.fake_repos import lay_port_tree
from mpforge.build import mpycross
from mpforge import ui
from mpforge.build import pipeline
from mpforge.model import settings

pytestmark = pytest.mark.skipif(shutil.which("make") is None or shutil.which("cc") is None,
                                reason="needs make and a C compiler")


def test_builds_once_then_only_when_a_source_changes(tmp_path, capsys):
    tree = tmp_path / "micropython"
    lay_port_tree(tree, "v1.26")
    s = settings.from_config({"mpforge": {"workdir": str(tmp_path / "w"), "micropython": {"dir": str(tree)}}})
    job = settings.job(s, "esp32s3-n16r8", "v1.28.0")  # a v1.26-line release, as the tree
    assert mpycross.status(job)[0] is False
    mpycross.ensure(job)
    exe = mpycross.binary(job)
    assert exe.is_file() and os.access(exe, os.X_OK)
    built = exe.stat().st_mtime_ns

    capsys.readouterr()
    ui.step_results(pipeline.run_step(job, "mpy-cross"))
    assert "up to date" in capsys.readouterr().out
    assert exe.stat().st_mtime_ns == built

    header = tree / "py" / "version.h"
    header.write_text('#define FIXTURE_VERSION "2"\n')
    later = exe.stat().st_mtime + 5
    os.utime(header, (later, later))
    assert mpycross.status(job)[0] is False
    mpycross.ensure(job)
    assert exe.stat().st_mtime_ns != built
