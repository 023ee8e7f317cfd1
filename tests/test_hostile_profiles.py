"""A profile from a stranger: every string field fed values made to break out
of the generated CMake and sdkconfig files.

Each value is either refused on load with one line, or the overlay renders
files with exactly the lines a harmless value gives, and real CMake (script
mode, as `invoke config` runs the variant file) executes nothing of it: no
marker file appears, no error, the board name comes back as written. The
writer is tested on its own too (validation bypassed), so the escaping
holds even if a check on load is lost.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess

import pytest

from conftest import ROOT
from mpforge.build import overlay
from mpforge.errors import UserError
from mpforge.model import profiles, settings

LINES = {"v1.22": "v1.23.0", "v1.24": "v1.24.1", "v1.26": "v1.28.0", "v1.29": "v1.29.0"}
STRING_FIELDS = [(table, key) for table, keys in profiles.SCHEMA.items()
                 for key, (kind, _required) in keys.items() if kind is str]
HOSTILE = [
    "x\nmessage(FATAL_ERROR injected)",
    "x\r\nfile(WRITE {marker} pwned)",
    'x")\nfile(WRITE {marker} pwned)\n#',
    '" ) file(WRITE {marker} pwned) #',
    "x\u2028file(WRITE {marker} pwned)",
    "${{ENV{{HOME}}}}$(touch {marker})`touch {marker}`",
    "x;y\\z",
    "x\x00y",
    "\x1b[31mred\tz",
    "CONFIG_SPIRAM=n\nCONFIG_X=y",
]
SAFE = "Plain"
CMAKE = shutil.which("cmake")


def _toml_with(table: str, key: str, value: str) -> str:
    """The reference profile with table.key set to value (a TOML basic string)."""
    data_lines = (ROOT / "boards" / "esp32s3-n16r8.toml").read_text().splitlines()
    out, section, done = [], None, False
    for line in data_lines:
        header = re.fullmatch(r"\[(\w+)\]", line.strip())
        if header:
            if section == table and not done:
                out.append(f"{key} = {json.dumps(value)}")
                done = True
            section = header.group(1)
        elif section == table and re.match(rf"{key}\s*=", line):
            line, done = f"{key} = {json.dumps(value)}", True
        out.append(line)
    if not done:
        out += ([] if section == table else [f"[{table}]"]) + [f"{key} = {json.dumps(value)}"]
    return "\n".join(out) + "\n"


def _job(tmp_path, profile_ref, version):
    s = settings.from_config({"mpforge": {"workdir": str(tmp_path / "work"),
                                          "micropython": {"dir": str(tmp_path / "mp")}}})
    return settings.job(s, profile_ref, version)


def _render(tmp_path, profile, version) -> overlay.Rendered:
    job = _job(tmp_path, "esp32s3-n16r8", version)
    return overlay.render(dataclasses.replace(job, profile=profile))


def _line_counts(rendered: overlay.Rendered) -> list[int]:
    return [len(text.splitlines()) for _name, text in sorted(rendered.files.items())]


def _run_variant_cmake(tmp_path, rendered: overlay.Rendered, marker) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Include the rendered variant file as the port does, in CMake script mode; return the DEF_BOARD items."""
    variant = next(text for name, text in rendered.files.items() if name.endswith(".cmake"))
    work = tmp_path / "cmake"
    work.mkdir(exist_ok=True)
    (work / "variant.cmake").write_text(variant)
    (work / "run.cmake").write_text(
        'set(SDKCONFIG_DEFAULTS "")\nset(MICROPY_DEF_BOARD "")\ninclude(${CMAKE_CURRENT_LIST_DIR}/variant.cmake)\n'
        'foreach(item IN LISTS MICROPY_DEF_BOARD)\n  message("def_board ${item}")\nendforeach()\n')
    result = subprocess.run([CMAKE, "-Wno-dev", "-P", str(work / "run.cmake")], cwd=work, capture_output=True,
                            text=True)
    items = [line.removeprefix("def_board ") for line in result.stderr.splitlines() if line.startswith("def_board ")]
    return result, items


def _assert_harmless(tmp_path, profile, marker) -> None:
    for line, version in LINES.items():
        rendered = _render(tmp_path, profile, version)
        plain = _render(tmp_path, dataclasses.replace(profile, title=SAFE, description=SAFE, name=SAFE), version)
        assert _line_counts(rendered) == _line_counts(plain), (line, rendered.files)
        for name, text in rendered.files.items():
            if name.startswith("sdkconfig"):
                for row in text.splitlines():
                    assert row.startswith("#") or re.fullmatch(r"CONFIG_[A-Z0-9_]+=.*", row), (name, row)
        if CMAKE:
            result, items = _run_variant_cmake(tmp_path, rendered, marker)
            assert result.returncode == 0, result.stderr
            assert items == [f'MICROPY_HW_BOARD_NAME="{profile.board_name}"'], items
    assert not marker.exists()


@pytest.mark.parametrize("table,key", STRING_FIELDS, ids=[f"{t}.{k}" for t, k in STRING_FIELDS])
def test_hostile_value_in_every_string_field(tmp_path, table, key):
    marker = tmp_path / "PWNED"
    for raw in HOSTILE:
        value = raw.format(marker=marker)
        path = tmp_path / "hostile.toml"
        path.write_text(_toml_with(table, key, value))
        try:
            profile = profiles.load(str(path))
        except UserError as exc:
            assert "\n" not in str(exc) and "\r" not in str(exc), str(exc)
            continue
        # Only what needs no escape in its place gets through: comments take any printable text,
        # and frozen.path is a path (it reaches the frozen manifest, tested below), never CMake.
        assert (table, key) in {("board", "name"), ("board", "description"), ("frozen", "path")}, (table, key, value)
        _assert_harmless(tmp_path, profile, marker)


@pytest.mark.parametrize("raw", HOSTILE)
def test_writer_escapes_even_without_the_checks_on_load(tmp_path, raw):
    """Validation bypassed: the overlay itself keeps every value in its place."""
    marker = tmp_path / "PWNED"
    value = raw.format(marker=marker)
    good = profiles.load("esp32s3-n16r8")
    for field in ("title", "name", "description"):
        _assert_harmless(tmp_path, dataclasses.replace(good, **{field: value}), marker)
    for field in ("board_name", "variant", "board"):
        with pytest.raises(UserError, match="cannot be written into CMake safely") as caught:
            _render(tmp_path, dataclasses.replace(good, **{field: value}), "v1.28.0")
        assert "\n" not in str(caught.value)


def test_plain_board_names_round_trip_through_cmake(tmp_path):
    good = profiles.load("esp32s3-n16r8")
    name = "Board rev 2: 16MB/8MB & more, fine + ok_1.0"
    _assert_harmless(tmp_path, dataclasses.replace(good, board_name=name), tmp_path / "PWNED")


def test_variant_and_board_are_ascii(tmp_path):
    for table, key, value in (("build", "board_name", "Board (rev 2)"), ("build", "board_name", "x # y"),("build", "variant", "FLÄSH"), ("build", "variant", "flash_16m"),
                              ("build", "board", "../../etc"), ("build", "board", "ESP32 S3")):
        path = tmp_path / "p.toml"
        path.write_text(_toml_with(table, key, value))
        with pytest.raises(UserError, match=f"'{table}.{key}'"):
            profiles.load(str(path))


def test_frozen_manifest_keeps_a_hostile_folder_name_as_data(tmp_path):
    """The generated manifest.py is Python that MicroPython's build runs: a folder name
    with quotes and a newline must stay one string argument."""
    import ast

    from mpforge.build import frozen

    code = tmp_path / 'x")\nimport os; os.system("touch PWNED")\n#'
    code.mkdir()
    (code / "app.py").write_text("X = 1\n")
    s = settings.from_config({"mpforge": {"workdir": str(tmp_path / "work"), "micropython": {"dir": str(tmp_path / "mp")}}},
                             frozen=str(code))
    job = settings.job(s, "esp32s3-n16r8", "v1.28.0")
    tree = ast.parse(frozen.manifest_text(job, code))
    calls = [node.value for node in tree.body]
    assert [c.func.id for c in calls] == ["include", "freeze"]
    assert calls[1].args[0].value == str(code)
