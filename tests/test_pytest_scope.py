"""The README's test command after the main job: work/ then holds a MicroPython
clone with tests of its own (and dist/ the release folders), which pytest must
not collect. Checked with the project's own pytest.ini on a copy of the layout."""

from __future__ import annotations

import shutil
import subprocess
import sys

from conftest import ROOT


def test_pytest_collects_only_tests(tmp_path):
    shutil.copy(ROOT / "pytest.ini", tmp_path / "pytest.ini")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_ours.py").write_text("def test_ours():\n    pass\n")
    for folder in ("work/micropython/v1.28.0/tests", "dist/esp32s3-n16r8-v1.28.0"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "test_theirs.py").write_text("import micropython_only_module\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
