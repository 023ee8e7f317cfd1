"""C modules after the build: build-info.json, the dist page, and verify's check
that each one imports on the board, built in.

Simulated: the build (the simulated ESP-IDF: nothing is compiled; the module's
names are read from its sources, as for a real build) and the C module on the
board, where a Python stand-in without __file__ takes its place
(tests/harness/repl_server.mjs, SIM_BUILTIN). Real: the tasks, git, the dist
folder, and the MicroPython REPL (the WebAssembly port) verify talks to.
The module built is the docs' own example, docs/examples/mpforge_demo.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from conftest import ROOT, one_line_error
from harness.repl_peer import repl_peers  # noqa: F401  (fixture)
from test_verify import outcomes

EXAMPLE = ROOT / "docs" / "examples" / "mpforge_demo"


@pytest.fixture
def demo(tmp_path):
    """The example module, committed in a git repository of its own: (folder, commit)."""
    repo = tmp_path / "demo-repo"
    shutil.copytree(EXAMPLE, repo / "mpforge_demo")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(repo)]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "demo"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    return repo / "mpforge_demo", head


@pytest.fixture
def built(mp, demo, tmp_path):
    """A simulated build with the example module, collected into a dist folder: (dist folder, commit)."""
    folder, head = demo
    result = mp("build", "--c-module", str(folder))
    assert result.returncode == 0, result.stdout + result.stderr
    result = mp("dist", "--dest", str(tmp_path / "dist"))
    assert result.returncode == 0, result.stdout + result.stderr
    return next((tmp_path / "dist").iterdir()), head


def test_build_info_and_the_page_list_the_modules_with_their_commit(built):
    dist, head = built
    info = json.loads((dist / "build-info.json").read_text())
    assert info["c_modules"] == [{"folder": "mpforge_demo", "names": ["mpforge_demo"],
                                  "git": {"commit": head, "dirty": False}}]
    assert str(dist.parent.parent) not in (dist / "build-info.json").read_text()  # no path of this machine
    page = (dist / "index.html").read_text()
    assert f"<th>C modules</th><td>mpforge_demo (mpforge_demo) at {head[:12]}</td>" in page


def test_a_dirty_module_is_recorded_as_such(mp, demo, tmp_path):
    folder, head = demo
    (folder / "mpforge_demo.c").write_text((folder / "mpforge_demo.c").read_text() + "// local change\n")
    assert mp("build", "--c-module", str(folder)).returncode == 0
    assert mp("dist", "--dest", str(tmp_path / "dist")).returncode == 0
    info = json.loads(next((tmp_path / "dist").iterdir()).joinpath("build-info.json").read_text())
    assert info["c_modules"][0]["git"] == {"commit": head, "dirty": True}
    assert ", with local changes" in next((tmp_path / "dist").iterdir()).joinpath("index.html").read_text()


def test_verify_against_the_dist_imports_the_module(invoke_run, repl_peers, built):
    dist, _head = built
    peer = repl_peers("cmodule")
    result = invoke_run("verify", "--port", peer.port, "--firmware", str(dist), timeout=60)
    assert outcomes(result.stdout)["C module mpforge_demo"] == "pass", result.stdout
    assert result.returncode == 0, result.stdout + result.stderr


def test_verify_fails_naming_the_module_when_the_firmware_lacks_it(invoke_run, repl_peers, built):
    dist, _head = built
    peer = repl_peers("reference")  # the right board, a firmware without the C module
    line = one_line_error(invoke_run("verify", "--port", peer.port, "--firmware", str(dist), timeout=60))
    assert "C module mpforge_demo" in line and "the C module mpforge_demo is not in the firmware" in line


def test_verify_after_a_build_takes_the_modules_the_build_linked_in(mp, repl_peers, built):
    """No --c-module on verify: the build's stamp knows what it linked in."""
    line = one_line_error(mp("verify", "--port", repl_peers("reference").port, timeout=60))
    assert "the C module mpforge_demo is not in the firmware" in line
    result = mp("verify", "--port", repl_peers("cmodule").port, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert outcomes(result.stdout)["C module mpforge_demo"] == "pass", result.stdout


def test_c_module_name_for_a_module_whose_sources_do_not_say(invoke_run, repl_peers):
    peer = repl_peers("cmodule")
    result = invoke_run("verify", "--port", peer.port, "--c-module-name", "mpforge_demo", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert outcomes(result.stdout)["C module mpforge_demo"] == "pass", result.stdout
    line = one_line_error(invoke_run("verify", "--port", peer.port, "--c-module-name", "nosuch", timeout=60))
    assert "C module nosuch" in line and "not in the firmware" in line


def test_a_python_module_of_that_name_is_not_the_c_module(invoke_run, repl_peers):
    peer = repl_peers("cmodule")  # app is frozen Python: it has a __file__
    line = one_line_error(invoke_run("verify", "--port", peer.port, "--c-module-name", "app", timeout=60))
    assert "app is Python (.frozen/app.py), not the C module" in line


def test_hostile_c_modules_in_a_dist_are_data():
    from mpforge.build import cmodules
    from mpforge.dist import page

    hostile = '"><script>alert(1)</script>'
    info = {"c_modules": [{"folder": hostile, "names": [hostile, "ok", "a.b", 3], "git": {"commit": hostile}},
                          "junk", {"names": "abc"}]}
    assert cmodules.names_in_info(info) == ["ok"]
    assert cmodules.names_in_info({"c_modules": "x"}) == [] and cmodules.names_in_info([]) == []
    text = page._c_modules_text(info["c_modules"])
    assert hostile in text  # escaped by render, as every value
    from mpforge.image import partitions

    html = page.render({"c_modules": info["c_modules"], "flash": {"size": "16MB"}},
                       [partitions.Partition("nvs", 1, 2, 0x9000, 0x6000)], [], title="t", psram="p",
                       manifest="m", script_src="s")
    assert "<script>alert" not in html
