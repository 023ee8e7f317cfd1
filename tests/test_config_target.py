"""config on a board that builds for another chip, a board that is not in the
tree, and kconfgen's temporary files (they stay inside the workdir and go)."""

from __future__ import annotations

import dataclasses
import os
import tempfile

import pytest

from mpforge.build import overlay
from mpforge.config import check as configcheck
from mpforge.errors import UserError
from test_config import config_job
from harness.fake_repos import git
from test_overlay import BOARD, make_tree


def _retarget(repo, line: str) -> None:
    """The board's cmake with another IDF_TARGET line, committed (the overlay refuses foreign edits)."""
    cmake = repo / BOARD / "mpconfigboard.cmake"
    cmake.write_text(cmake.read_text().replace("set(IDF_TARGET esp32s3)", line))
    git(repo, "commit", "-q", "-am", "retarget")


def test_a_board_for_another_chip_is_a_mismatch(tmp_path):
    repo = make_tree(tmp_path, "v1.26")
    _retarget(repo, "set(IDF_TARGET esp32c3)")
    job = config_job(tmp_path, repo, "v1.28.0")
    overlay.apply(job)
    report = configcheck.check(job)
    row = next(r for r in report.rows if r.setting == "IDF target")
    assert (row.want, row.got, row.ok) == ("esp32s3", "esp32c3", False)
    assert not report.ok


def test_a_board_without_a_target_builds_for_the_esp32(tmp_path):
    repo = make_tree(tmp_path, "v1.26")
    _retarget(repo, "")
    job = config_job(tmp_path, repo, "v1.28.0")
    overlay.apply(job)
    row = next(r for r in configcheck.check(job).rows if r.setting == "IDF target")
    assert not row.ok and row.got.startswith("esp32 ")


def test_a_board_that_is_not_in_the_tree_is_one_line(tmp_path):
    repo = make_tree(tmp_path, "v1.26")
    job = config_job(tmp_path, repo, "v1.28.0")
    job = dataclasses.replace(job, profile=dataclasses.replace(job.profile, board="NO_SUCH_BOARD"))
    for step in (lambda: overlay.apply(job), lambda: configcheck.board_defaults(job, job.release.idf)):
        with pytest.raises(UserError, match="board NO_SUCH_BOARD .*build.board.* is not in .*boards"):
            step()


def test_kconfgen_leaves_nothing_in_the_temp_folder(tmp_path, monkeypatch):
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(system_tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    repo = make_tree(tmp_path, "v1.26")
    job = config_job(tmp_path, repo, "v1.28.0")
    overlay.apply(job)
    assert configcheck.check(job).ok
    assert os.listdir(system_tmp) == []
    scratch = job.settings.workdir / "tmp"
    assert scratch.is_dir() and os.listdir(scratch) == []
