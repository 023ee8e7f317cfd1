"""The layering rules, read from the source: library code says what it does as
events (mpforge.events) and returns results; only mpforge/ui/ writes to the
terminal, and only ui and cli.py (the task layer) import it."""

from __future__ import annotations

import ast

import pytest
from conftest import ROOT

from mpforge import events, ui
from mpforge.build import pipeline
from mpforge.model import settings

PACKAGE = ROOT / "mpforge"
MAY_IMPORT_UI = {"mpforge/ui/__init__.py", "mpforge/ui/live.py", "mpforge/ui/detect.py", "mpforge/cli.py"}
MAY_WRITE = {"mpforge/ui/__init__.py", "mpforge/ui/live.py"}
_STREAMS = {"stdout", "stderr", "__stdout__", "__stderr__"}


def _modules() -> dict[str, ast.Module]:
    return {path.relative_to(ROOT).as_posix(): ast.parse(path.read_text(), str(path))
            for path in sorted(PACKAGE.rglob("*.py"))}


def _package_of(name: str) -> list[str]:
    """The package a relative import starts from: mpforge/build/x.py (or its __init__.py) -> mpforge.build."""
    return name.removesuffix(".py").split("/")[:-1]


def ui_imports(name: str, tree: ast.Module) -> list[str]:
    """Each import of mpforge.ui, in any form (absolute, relative, by importlib's name)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names
                      if a.name == "mpforge.ui" or a.name.startswith("mpforge.ui.")]
        elif isinstance(node, ast.ImportFrom):
            package = _package_of(name)
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            if module == "mpforge.ui" or module.startswith("mpforge.ui.") or (
                    module == "mpforge" and any(a.name == "ui" for a in node.names)):
                found.append(f"line {node.lineno}: from {'.' * node.level}{node.module or ''} import ...")
        elif isinstance(node, ast.Constant) and node.value == "mpforge.ui":
            found.append(f"line {node.lineno}: 'mpforge.ui' (imported by name)")
    return found


def terminal_writes(tree: ast.Module) -> list[str]:
    """Each print() or input() call (input's prompt goes to stdout) and each use of
    sys.stdout/sys.stderr but asking .isatty()."""
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    names_of_sys = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for a in node.names if a.name == "sys"}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("print", "input"):
            found.append((node.lineno, f"{node.func.id}()"))
        elif (isinstance(node, ast.Attribute) and node.attr in _STREAMS
              and isinstance(node.value, ast.Name) and node.value.id in names_of_sys):
            up = parents.get(node)
            if not (isinstance(up, ast.Attribute) and up.attr == "isatty"):
                found.append((node.lineno, f"sys.{node.attr}"))
        elif isinstance(node, ast.ImportFrom) and node.module == "sys":
            found += [(node.lineno, f"from sys import {a.name}") for a in node.names if a.name in _STREAMS]
    return [f"line {line}: {what}" for line, what in sorted(found)]


def violations() -> dict[str, list[str]]:
    found = {}
    for name, tree in _modules().items():
        problems = [*([] if name in MAY_IMPORT_UI else ui_imports(name, tree)),
                    *([] if name in MAY_WRITE else terminal_writes(tree))]
        if problems:
            found[name] = problems
    return found


def test_only_ui_prints_and_only_the_task_layer_imports_it():
    found = violations()
    assert found == {}, ("library code says what it does with mpforge.events and returns results; "
                         "only mpforge/ui/ prints, only ui and cli.py import it: " + repr(found))


def test_no_name_is_used_that_is_never_defined():
    """pyflakes over mpforge/ and tasks.py: a name used but never defined or imported is a
    traceback waiting on the path that reaches it (as `except UserError` once was in
    board/checks.py, on a release mpforge does not know)."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "pyflakes", str(PACKAGE), str(ROOT / "tasks.py")],
                            capture_output=True, text=True)
    undefined = [line for line in result.stdout.splitlines() if "undefined name" in line]
    assert result.stderr == "" and result.returncode in (0, 1), result.stderr  # it ran (1: it found something)
    assert undefined == [], undefined


def test_the_checks_see_each_form_of_the_rule_broken():
    bad = ast.parse("import sys\nfrom mpforge import ui, events\nimport mpforge.ui\nfrom ..ui import say\n"
                    "from sys import stderr\nprint('x')\nsys.stdout.write('x')\nf(file=sys.stderr)\n"
                    "lazy('mpforge.ui')\nif sys.stderr.isatty(): pass\nimport sys as s\ns.stderr.write('x')\ninput('?')\n")
    assert [p.split(":")[0] for p in ui_imports("mpforge/build/x.py", bad)] == [
        "line 2", "line 3", "line 4", "line 9"]
    assert [p.split(":")[0] for p in terminal_writes(bad)] == ["line 5", "line 6", "line 7", "line 8", "line 12",
                                                     "line 13"]


# ---- a library call with no listener says nothing on stdout ------------------------------

@pytest.fixture(autouse=True)
def _events_printed():
    """Overrides conftest's: these tests call the library as a script would, with no listener."""
    yield


@pytest.fixture
def dry_job(tmp_path):
    s = settings.from_config({"run": {"dry": True}, "mpforge": {
        "workdir": str(tmp_path / "work"), "idf": {"tools_path": str(tmp_path / "espressif")},
        "os_packages": False}})
    return settings.job(s, "esp32s3-n16r8", "v1.28.0")


def test_a_library_call_with_no_listener_prints_nothing(dry_job, capsys):
    results = list(pipeline.run_through(dry_job, "build"))
    assert [r.step for r in results] == ["config"]  # the other steps' dry runs only say what they would do
    assert capsys.readouterr() == ("", "")


def test_a_listener_hears_what_the_library_says(dry_job, capsys):
    heard = []
    with events.listening(heard.append):
        list(pipeline.run_through(dry_job, "build"))
    said = [(e.step, e.kind, e.text) for e in heard]
    assert ("build", "note", f"would build {dry_job.label}") in said
    assert [step for step, kind, text in said if kind == "would" and "git clone" in text] == [
        "install-prereqs", "fetch"]
    assert capsys.readouterr() == ("", "")
    with events.listening(ui.EventPrinter()):
        list(pipeline.run_through(dry_job, "build"))
    assert f"build: would build {dry_job.label}\n" in capsys.readouterr().out


def test_a_question_is_answered_by_the_listener_and_no_listener_means_no(capsys):
    assert events.ask("install-prereqs", "install them now? [y/N]") is False
    asked = []
    with events.listening(lambda event: asked.append(event) or event.kind == "ask"):
        assert events.ask("install-prereqs", "install them now? [y/N]") is True
    assert [(e.step, e.kind, e.text) for e in asked] == [("install-prereqs", "ask", "install them now? [y/N]")]
    with events.listening(ui.EventPrinter()):  # stdin is no terminal here: ui answers no, asking nothing
        assert events.ask("install-prereqs", "install them now? [y/N]") is False
    assert capsys.readouterr() == ("", "")


def test_each_result_comes_as_its_step_ends(dry_job):
    """A long chain shows each step's line when that step ends, not all lines at the end."""
    heard = []
    with events.listening(heard.append):
        for result in pipeline.run_through(dry_job, "build"):
            assert result.step == "config"
            assert [e.step for e in heard if e.step == "build"] == []  # build has not begun yet
    assert ("build", "note", f"would build {dry_job.label}") in [(e.step, e.kind, e.text) for e in heard]


def test_a_failed_step_ends_the_chain_whoever_iterates(dry_job, monkeypatch):
    """A caller that does not raise a failure (list() here) still runs no step after it.
    The steps are stand-ins that note that they ran; the chain that runs them is the real one."""
    from mpforge.errors import UserError
    from mpforge.results import StepResult

    ran = []

    def stand_in(step):
        def work(job):
            ran.append(step.name)
            failure = UserError(step.name, "broken") if step.name == "overlay" else None
            return StepResult(step.name, "did it", failure=failure)
        return pipeline.Step(step.name, lambda job: (False, "to do"), work, needs=step.needs)

    monkeypatch.setattr(pipeline, "STEPS", tuple(stand_in(step) for step in pipeline.STEPS))
    results = list(pipeline.run_through(dry_job, "build"))
    assert ran == ["install-prereqs", "fetch", "mpy-cross", "overlay"]
    assert results[-1].step == "overlay" and results[-1].failure is not None
